"""What the program asks of the cluster: summed CPU and memory requests, so each mode's cost
is visible before `pulumi up`. Computed from the pod and VM specs the components emit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Mapping

from ..settings import parse_quantity

MI = Decimal(2**20)

# KubeVirt adds to every VM's launcher pod beyond the guest's memory (≈280 MiB measured by
# upstream for a 2 GiB / 2 vCPU guest) and requests 1/10 of a CPU per vCPU (cpuAllocationRatio 10).
VM_MEMORY_OVERHEAD = Decimal(280) * MI
VM_CPU_PER_VCPU = Decimal("0.1")


@dataclass(frozen=True)
class Requests:
    cpu: Decimal = Decimal(0)  # cores
    memory: Decimal = Decimal(0)  # bytes

    def __add__(self, other: "Requests") -> "Requests":
        return Requests(self.cpu + other.cpu, self.memory + other.memory)

    def __mul__(self, times: int) -> "Requests":
        return Requests(self.cpu * times, self.memory * times)

    @classmethod
    def of(cls, resources: Mapping) -> "Requests":
        """The requests of one container's `resources` block."""
        requests = (resources or {}).get("requests") or {}
        return cls(parse_quantity(str(requests.get("cpu", "0"))), parse_quantity(str(requests.get("memory", "0"))))

    @classmethod
    def of_pod(cls, pod_spec: Mapping) -> "Requests":
        """A pod's effective requests: its containers' sum, or its largest init container if larger."""
        running = total(cls.of(c.get("resources")) for c in pod_spec.get("containers") or [])
        for init in pod_spec.get("initContainers") or []:
            step = cls.of(init.get("resources"))
            running = Requests(max(running.cpu, step.cpu), max(running.memory, step.memory))
        return running

    @classmethod
    def of_vm(cls, template_spec: Mapping) -> "Requests":
        domain = template_spec.get("domain") or {}
        guest = parse_quantity(str((domain.get("memory") or {}).get("guest", "0")))
        cores = Decimal((domain.get("cpu") or {}).get("cores", 1))
        return cls(cores * VM_CPU_PER_VCPU, guest + VM_MEMORY_OVERHEAD)

    def to_dict(self) -> dict:
        return {"cpu": f"{self.cpu.normalize():f}", "memory": f"{int(self.memory / MI)}Mi"}


def total(parts: Iterable[Requests]) -> Requests:
    result = Requests()
    for part in parts:
        result = result + part
    return result
