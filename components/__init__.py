"""kedge components: Azure IoT Edge on Kubernetes as Pulumi ComponentResources.

Layers, each ignorant of the one above:
  settings  - pure parsing and validation of the stack config (no Pulumi imports);
  azure     - IoT Hub, IoT Edge device identities, AKS;
  cluster   - in-cluster runtimes; gets a Kubernetes provider, never imports Azure.

Installed with pip this package is `kedge`; inside this repository the program imports it
as `components`. Modules import each other relatively so both work.
"""
