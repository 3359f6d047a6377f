"""VM runtime defaults and rules, shared by EdgeVirtualMachine and the stack settings. Pure."""

from __future__ import annotations

from ..choices import EvictionStrategy, RunStrategy, SshService
from .inputs import Input, choice_input
from .rules import QUANTITY, matches, quantity, whole_number
from .virtualization import DEFAULT_EVICTION_STRATEGY
from .changes import (live, new_disks_only, vm_template_restart)

# The cloud image CDI imports when a stack names none: Ubuntu 24.04, an install target of IoT Edge 1.6.
UBUNTU_NOBLE_IMAGE = "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img"

# Defaults for arguments left out; the stack settings take theirs from here.
DEFAULT_SSH_SERVICE = "ClusterIP"
DEFAULT_DISK_SIZE = "32Gi"
DEFAULT_CPU_CORES = 2
DEFAULT_MEMORY = "4Gi"
DEFAULT_RUN_STRATEGY = "Always"
DEFAULT_AZIOT_EDGE_VERSION = "1.6.0-1"
# IoT Edge 1.6 LTS package versions (aziot-edge), e.g. 1.6.0-1.
AZIOT_EDGE_VERSION_PATTERN = r"1\.6\.\d+(-\d+)?"


# The VM's inputs that stack settings feed: each declared once, for EdgeVirtualMachine's argument
# check, the settings declarations and the settings reader.
CPU_CORES = Input("cpu_cores", DEFAULT_CPU_CORES, "vCPUs of each VM (1-64); a device may override with cpuCores.",
                  whole_number(1, 64), "1-64", setting="vmCpuCores", device_key="cpuCores",
    changes=(vm_template_restart("domain.cpu.cores (KubeVirt's live update changes only sockets, and only through a live migration)", 4),))
MEMORY = Input("memory", DEFAULT_MEMORY, "Memory of each VM as a Kubernetes quantity; device override: memory.",
               quantity("1Gi"), f"{QUANTITY}, at least 1Gi", setting="vmMemory", device_key="memory",
    changes=(vm_template_restart("domain.memory.guest (live only as growth within maxGuest on a migratable VM; a decrease never: "
                            "the trigger cannot tell, so every change restarts)", "6Gi"),))
DISK_SIZE = Input("disk_size", DEFAULT_DISK_SIZE, "Root disk (DataVolume) size of each VM; device override: diskSize.",
                  quantity("1Gi"), f"{QUANTITY}, at least 1Gi", setting="vmDiskSize", device_key="diskSize",
    changes=(new_disks_only("The root disk size", "64Gi"),))
IMAGE_URL = Input("image_url", UBUNTU_NOBLE_IMAGE, "HTTP(S) URL of the Ubuntu cloud image CDI imports; device override: imageUrl.",
                  matches(r"https?://\S+", "an http(s) URL of a cloud image"), "an http(s) URL", setting="vmImageUrl",
                  device_key="imageUrl",
    changes=(new_disks_only("The cloud image", "https://cloud-images.ubuntu.com/releases/jammy/release/ubuntu-22.04-server-cloudimg-amd64.img"),))
RUN_STRATEGY = choice_input("run_strategy", RunStrategy, DEFAULT_RUN_STRATEGY,
                            "KubeVirt runStrategy: Always, RerunOnFailure, Manual, Halted or Once.", setting="vmRunStrategy",
                            device_key="runStrategy",
    changes=(live("KubeVirt's VM controller acts on runStrategy as it changes (Halted stops the VM, Always starts it); not part "
                                "of the template, so no restart.", "kubevirt/kubevirt pkg/virt-controller/watch/vm/vm.go@v1.9.0",
                                "RerunOnFailure", mode="vm"),))
EVICTION_STRATEGY = choice_input("eviction_strategy", EvictionStrategy, DEFAULT_EVICTION_STRATEGY,
                                 "KubeVirt evictionStrategy: None, LiveMigrate (needs RWX storage), LiveMigrateIfPossible or "
                                 "External.", setting="vmEvictionStrategy", device_key="evictionStrategy",
    changes=(vm_template_restart("evictionStrategy (template spec)", "None"),))
SSH_SERVICE = choice_input("ssh_service", SshService, DEFAULT_SSH_SERVICE, "SSH Service per VM: none, ClusterIP or LoadBalancer.",
                           setting="vmSshService", device_key="sshService",
    changes=(live("Adds, changes or removes the VM's SSH Service; the VM is untouched.", "kedge cluster/edge_vm.py",
                               "LoadBalancer", mode="vm"),))
INPUTS = (CPU_CORES, MEMORY, DISK_SIZE, IMAGE_URL, RUN_STRATEGY, EVICTION_STRATEGY, SSH_SERVICE)
