"""Kubernetes quantities, and what the program asks of the cluster: summed CPU and memory
requests, so each mode's cost is visible before `pulumi up`. Computed from the pod and VM specs
the components emit. Pure: no Pulumi."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Mapping


# Kubernetes resource.Quantity, as apimachinery parses it.
QUANTITY_PATTERN = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)

_BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
}


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity ("1Gi" -> 1073741824, "500m" -> 0.5)."""
    match = QUANTITY_PATTERN.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number = Decimal(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY_SUFFIXES:
        return number * _BINARY_SUFFIXES[suffix]
    if suffix in _DECIMAL_SUFFIXES:
        return number * _DECIMAL_SUFFIXES[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))


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
