"""Destroy that completes: what kedge installs through OLM goes before OLM itself.

OLM v0.46 puts a cleanup finalizer on each CSV it installs (pkg/controller/operators/olm/
operator.go): if OLM is deleted first, the operators' namespace stays Terminating and their
webhooks and ClusterRoles remain. Pulumi deletes a resource only after everything that depends on
it (and a parent after its children): the delete order is the reverse of a topological order of
the registered dependencies. The tests derive it that way, under mocks, for every destroy path,
and check the rule as a dependency (a resource that transitively depends on another is deleted
before it in every order Pulumi may pick, parallel deletes included).
"""

from __future__ import annotations

import pulumi
import pytest

from kedge.cluster.node_remediation import DEFAULT_NAMESPACE, OLM_RELEASES, NodeRemediation, NodeRemediationArgs
from tests.harness import ProgramRun, Registered, run_components, run_example_stack

CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
NAMESPACE = "kubernetes:core/v1:Namespace"
# API groups of objects that exist only through OLM and the operators it installs.
THROUGH_OLM = ("operators.coreos.com", "remediation.medik8s.io", "self-node-remediation.medik8s.io",
               "fence-agents-remediation.medik8s.io")
FENCING = {
    "agent": "fence_ipmilan",
    "shared_parameters": {"--username": "fencer"},
    "node_parameters": {"site-1": {"--ip": "10.0.10.11"}, "site-2": {"--ip": "10.0.10.12"}},
}


def must_wait_for(resource: Registered, run: ProgramRun) -> set[str]:
    """What Pulumi deletes only after `resource`: its dependencies and its parent."""
    known = {r.urn for r in run.resources}
    return {urn for urn in (*resource.dependencies, resource.parent) if urn in known}


def delete_order(run: ProgramRun) -> list[str]:
    """The order `pulumi destroy` deletes in: a resource once nothing left depends on it (nor is
    its child), ties in reverse registration order, the way the engine walks its snapshot backwards."""
    waits = {r.urn: must_wait_for(r, run) for r in run.resources}
    dependents = {urn: {other for other, needs in waits.items() if urn in needs} for urn in waits}
    order: list[str] = []
    left = [r.urn for r in reversed(run.resources)]
    while left:
        ready = next((urn for urn in left if not dependents[urn] - set(order)), None)
        assert ready is not None, f"a dependency cycle among {left}"
        order.append(ready)
        left.remove(ready)
    return order


def deleted_before(run: ProgramRun, first: Registered, then: Registered) -> bool:
    """Whether every delete order Pulumi may pick deletes `first` before `then` (`first`
    transitively depends on `then`, or is its descendant)."""
    seen, todo = set(), [first.urn]
    while todo:
        urn = todo.pop()
        for needed in must_wait_for(run.by_urn(urn), run):
            if needed == then.urn:
                return True
            if needed not in seen:
                seen.add(needed)
                todo.append(needed)
    return False


def olm_itself(run: ProgramRun) -> list[Registered]:
    prefix = OLM_RELEASES.split("{")[0]
    return [r for r in run.of_type(CONFIG_FILE) if str(r.get("file", "")).startswith(prefix)]


def installed_through_olm(run: ProgramRun) -> list[Registered]:
    """The operators' namespace and every object of an OLM or operator API, or in that namespace."""
    return [r for r in run.resources if r.custom and (
        r.type.split(":")[1].split("/")[0] in THROUGH_OLM
        or r.get("metadata.namespace") == DEFAULT_NAMESPACE
        or (r.type == NAMESPACE and r.get("metadata.name") == DEFAULT_NAMESPACE))]


def order_problems(run: ProgramRun) -> list[str]:
    order = delete_order(run)
    name = {r.urn: f"{r.type.split(':')[-1]} {r.name}" for r in run.resources}
    problems = []
    olm = olm_itself(run)
    installed = installed_through_olm(run)
    namespaces = [r for r in installed if r.type == NAMESPACE]
    for obj in installed:
        in_namespace = obj.get("metadata.namespace") == DEFAULT_NAMESPACE
        for later in [*olm, *(namespaces if in_namespace else [])]:
            if not deleted_before(run, obj, later) or order.index(obj.urn) > order.index(later.urn):
                problems.append(f"{name[obj.urn]} is not always deleted before {name[later.urn]}")
    return problems


PATHS = {
    "kedge installs OLM": {},
    "a control-plane check": {"control_plane_hosts_devices": True},
    "power fencing": {"power_fencing": {**FENCING, "secret_parameters": {"--password": "x"}}},
    "OLM exists (nodeRemediationOlm: existing)": {"install_olm": False},
    "operators exist": {"install_operators": False},
}


@pytest.mark.parametrize("args", PATHS.values(), ids=PATHS.keys())
def test_everything_installed_through_olm_is_deleted_before_olm_and_its_namespace_last(args):
    if "power_fencing" in args:
        args = {**args, "power_fencing": {**args["power_fencing"],
                                           "secret_parameters": pulumi.Output.secret(args["power_fencing"]["secret_parameters"])}}
    run, _ = run_components(lambda: NodeRemediation("remediation", NodeRemediationArgs(**args)))
    assert order_problems(run) == []
    installed, olm = installed_through_olm(run), olm_itself(run)
    assert installed  # the checks at least
    assert bool(olm) == (args.get("install_operators", True) and args.get("install_olm", True))
    if olm:
        # OLM's CRDs go last: deleting them first would delete every Subscription and CSV at once.
        order = delete_order(run)
        (crds,) = [r for r in olm if r.get("file").endswith("/crds.yaml")]
        assert order.index(crds.urn) == max(order.index(r.urn) for r in [*installed, *olm])


@pytest.mark.parametrize("overrides", [{}, {"nodeRemediationOlm": "existing"}], ids=["kedge's OLM", "existing OLM"])
def test_a_whole_stack_destroy_deletes_what_olm_installed_before_olm(overrides):
    run = run_example_stack("site", overrides)
    assert installed_through_olm(run)
    assert bool(olm_itself(run)) == (not overrides)
    assert order_problems(run) == []


def test_the_check_fails_when_the_namespace_does_not_wait_for_olm():
    run, _ = run_components(lambda: NodeRemediation("remediation", NodeRemediationArgs()))
    (namespace,) = run.of_type(NAMESPACE)
    olm_urns = {r.urn for r in olm_itself(run)}
    index = run.resources.index(namespace)
    run.resources[index] = Registered(**{**namespace.__dict__,
                                         "dependencies": tuple(u for u in namespace.dependencies if u not in olm_urns)})
    assert any(problem.startswith("Namespace remediation-namespace is not always deleted before ConfigFile")
               for problem in order_problems(run))
