"""kedge: Azure IoT Edge on Kubernetes as Pulumi ComponentResources.

Layers, by folder, each ignorant of the ones that use it:
  config/   the stack settings: declarations, pure parsing and validation, the Pulumi config source;
  render/   pure renderers: config.toml, deployment manifests, cloud-init, names, quantities;
  azure/    IoT Hub, IoT Edge device identities (and their out-of-process registry helpers), AKS;
  cluster/  in-cluster components: KubeVirt/CDI, security profiles, namespaces, dind and VM runtimes;
            they receive a Kubernetes provider and never import pulumi_azure_native;
  wiring/   public helpers that connect the layers the way this project's program does.
Reusable components (azure/, cluster/) never import config/: they own their defaults.
"""
