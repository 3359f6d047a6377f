"""In-cluster layer: KubeVirt/CDI, security profiles, dind and VM runtimes.

Receives a Kubernetes provider and never imports pulumi_azure_native, so it runs unchanged
on any cluster (AKS, k3s, Arc-connected).
"""
