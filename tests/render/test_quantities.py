"""Kubernetes quantities, and the CPU and memory a pod or a VM asks of the cluster."""

from decimal import Decimal

import pytest

from kedge.render.quantities import MI, VM_MEMORY_OVERHEAD, Requests, parse_quantity, total


@pytest.mark.parametrize("text,value", [("1Gi", 2**30), ("500m", 0.5), ("2", 2), ("1.5G", 1.5e9), ("1e3", 1000), ("128Ki", 131072)])
def test_quantities_parse_like_kubernetes(text, value):
    assert float(parse_quantity(text)) == pytest.approx(value)


@pytest.mark.parametrize("text", ["4GB", "1 Gi", "", "Gi", "1.2.3"])
def test_non_quantities_are_rejected(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize("text, value", [
    ("1E", Decimal(10) ** 18),  # exa, not an exponent
    ("2E2", Decimal(200)),  # an exponent
    ("1Ei", Decimal(2) ** 60),
    ("250n", Decimal("0.00000025")),
    ("3u", Decimal("0.000003")),
    (".5", Decimal("0.5")),
    ("-1k", Decimal(-1000)),
])
def test_every_suffix_kind_parses_exactly(text, value):
    assert parse_quantity(text) == value


def test_a_number_that_is_not_text_is_no_quantity():
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(1)  # type: ignore[arg-type]


def container(cpu="0", memory="0"):
    return {"resources": {"requests": {"cpu": cpu, "memory": memory}}}


def test_a_pod_asks_for_its_containers_sum_or_its_largest_init_container_per_resource():
    pod = {"containers": [container("250m", "64Mi"), container("500m", "128Mi")],
           "initContainers": [container("2", "16Mi"), container("100m", "256Mi")]}
    # CPU: the first init container (2) beats the sum (0.75); memory: the second (256Mi) beats it (192Mi).
    assert Requests.of_pod(pod) == Requests(Decimal(2), 256 * MI)
    assert Requests.of_pod({"containers": pod["containers"]}) == Requests(Decimal("0.75"), 192 * MI)


def test_a_container_without_requests_asks_for_nothing():
    assert Requests.of(None) == Requests.of({}) == Requests.of({"limits": {"cpu": "1"}}) == Requests()
    assert Requests.of_pod({}) == Requests()


def test_a_vm_asks_a_tenth_of_a_cpu_per_vcpu_and_its_guest_memory_plus_kubevirts_overhead():
    vm = Requests.of_vm({"domain": {"cpu": {"cores": 4}, "memory": {"guest": "4Gi"}}})
    assert vm == Requests(Decimal("0.4"), 4 * 1024 * MI + VM_MEMORY_OVERHEAD)
    assert VM_MEMORY_OVERHEAD == 280 * MI
    assert Requests.of_vm({"domain": {}}) == Requests(Decimal("0.1"), VM_MEMORY_OVERHEAD)  # one vCPU by default


def test_requests_add_multiply_and_show_as_kubernetes_quantities():
    one = Requests(Decimal("0.25"), 64 * MI)
    assert total([one, one * 3]) == one * 4 == Requests(Decimal(1), 256 * MI)
    assert total([]) == Requests()
    assert (one * 3).to_dict() == {"cpu": "0.75", "memory": "192Mi"}
    assert Requests(Decimal("2.000"), MI * Decimal("1.9")).to_dict() == {"cpu": "2", "memory": "1Mi"}  # whole MiB, rounded down
