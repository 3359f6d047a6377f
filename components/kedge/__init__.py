"""kedge: Azure IoT Edge on Kubernetes as Pulumi ComponentResources.

Layers, by folder, each ignorant of the ones that use it:
  render/   pure renderers: config.toml, deployment manifests, cloud-init, names, quantities;
  spec/     pure defaults and rules shared by the settings and the components;
  config/   the stack settings: declarations, pure parsing and validation (no Pulumi);
  azure/    IoT Hub, IoT Edge device identities (and their out-of-process registry helpers), AKS;
  cluster/  in-cluster components: KubeVirt/CDI, security profiles, namespaces, dind and VM runtimes;
            they receive a Kubernetes provider and never import pulumi_azure_native;
  wiring/   what connects the layers the way this project's program does (the Pulumi config source too).
Reusable components (azure/, cluster/) never import config/; their defaults live in spec/.
"""
