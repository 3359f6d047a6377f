"""What the stack declares about its cluster decides the checks that need it: the minimum
Kubernetes version and whether dind pods can get their own user namespace, the default boundary."""

import pytest

from kedge.config.cluster_facts import ClusterFacts, parse_version
from kedge.config.settings import HOST_USER_NAMESPACE_ROUTES
from tests.config.test_settings import DECLARED_RANGES, EXISTING_CLUSTER, load, problems_of

DIND = {"defaultMode": "dind", "dindImage": "reg.example/iotedge-dind:1.6.0-1", "devices": [{"id": "a"}]}
def userns_notices(settings):
    return tuple(n for n in settings.notices if n.startswith("kedge:dindUserNamespace:"))


READY_NODES = {"linux": "6.8.0-1027-azure", "containerd": "2.0.5", "runc": "1.2.6"}


@pytest.mark.parametrize("text, version", [
    ("1.33", (1, 33)), ("6.8.0-1027-azure", (6, 8)), ("2.0.5-k3s1", (2, 0)), ("1.2", (1, 2)),
    ("6", None), ("v1.33", None), ("1.33\n", None), (1.33, None),
])
def test_versions_are_read_as_major_and_minor(text, version):
    assert parse_version(text) == version


def test_dind_pods_get_their_own_user_namespace_where_the_declared_cluster_meets_every_requirement():
    settings = load({**DIND, "aksKubernetesVersion": "1.33", "clusterNodeVersions": READY_NODES})
    assert settings.dind_user_namespace is True and userns_notices(settings) == ()
    site = load({**DIND, **EXISTING_CLUSTER, "deviceStorageReclaimPolicy": "Retain", "clusterKubernetesVersion": "1.34.1",
                 "clusterNodeVersions": {"linux": "6.6", "cri-o": "1.30", "crun": "1.14"}})
    assert site.dind_user_namespace is True and userns_notices(site) == ()


@pytest.mark.parametrize("declared, missing", [
    ({}, ["kedge:aksKubernetesVersion", "kedge:clusterNodeVersions.linux", "kedge:clusterNodeVersions.containerd|cri-o",
          "kedge:clusterNodeVersions.runc|crun"]),
    ({"aksKubernetesVersion": "1.33", "clusterNodeVersions": {"linux": "6.8", "runc": "1.2"}},
     ["kedge:clusterNodeVersions.containerd|cri-o"]),
])
def test_an_undeclared_cluster_is_refused_naming_what_to_declare(declared, missing):
    """containerd 1.6 ignores hostUsers: false silently, so the default boundary must be declared, not hoped for."""
    (problem,) = problems_of({**DIND, **declared})
    assert problem.startswith("kedge:dindUserNamespace: dind pods need their own user namespace")
    assert f"allowed: declare {', '.join(missing)} (" in problem and "or false where the environment is not production" in problem


@pytest.mark.parametrize("nodes, too_old", [
    ({**READY_NODES, "linux": "5.15.0-1079-azure"}, "kedge:clusterNodeVersions.linux 5.15 (needs 6.3)"),
    ({**READY_NODES, "containerd": "1.7.27"}, "kedge:clusterNodeVersions.containerd 1.7 (needs 2.0)"),
    ({**READY_NODES, "runc": "1.1.15"}, "kedge:clusterNodeVersions.runc 1.1 (needs 1.2)"),
])
def test_a_declared_version_too_old_is_refused(nodes, too_old):
    (problem,) = problems_of({**DIND, "aksKubernetesVersion": "1.33", "clusterNodeVersions": nodes})
    assert problem.startswith("kedge:dindUserNamespace: dind pods need their own user namespace, which the declared "
                              "cluster cannot give") and too_old in problem


def test_an_older_kubernetes_is_refused():
    (problem,) = problems_of({**DIND, "aksKubernetesVersion": "1.32", "clusterNodeVersions": READY_NODES})
    assert "kedge:aksKubernetesVersion 1.32 (needs 1.33)" in problem


@pytest.mark.parametrize("declared", [{}, {"aksKubernetesVersion": "1.33", "clusterNodeVersions": READY_NODES}])
def test_accepting_the_node_user_namespace_warns_with_the_open_routes_outside_production(declared):
    settings = load({**DIND, **declared, "dindUserNamespace": "false"})
    assert settings.dind_user_namespace is False
    (notice,) = userns_notices(settings)
    assert notice.startswith("kedge:dindUserNamespace: false runs dind pods in the node's user namespace")
    assert all(route in notice for route in HOST_USER_NAMESPACE_ROUTES) and "allowed in production: true" in notice


def test_accepting_the_node_user_namespace_is_refused_in_production():
    (problem,) = problems_of({**DIND, **EXISTING_CLUSTER, **DECLARED_RANGES, "environment": "production", "dindUserNamespace": False,
                              "deviceStorageReclaimPolicy": "Retain", "clusterDeviceNodes": 3,
                              "nodeRemediationCatalogTagAccepted": True})
    assert problem.startswith("kedge:dindUserNamespace: false runs dind pods in the node's user namespace")


def test_without_dind_devices_the_setting_has_nothing_to_check():
    assert userns_notices(load({"devices": [{"id": "a"}]})) == ()
    assert userns_notices(load({"devices": [{"id": "a"}], "dindUserNamespace": False})) == ()
    assert load({"devices": [{"id": "a"}], "environment": "production", "dindUserNamespace": False,
                 "aksVirtPoolNodeCount": 2, "nodeRemediationCatalogTagAccepted": True,
                 "clusterApiServerCidrs": ["20.50.1.10/32"]}).devices


@pytest.mark.parametrize("values, key, allowed", [
    ({"dindUserNamespace": "maybe"}, "kedge:dindUserNamespace", "allowed: true (the default"),
    ({"dindUserNamespace": "auto"}, "kedge:dindUserNamespace", "false (accept the node's user namespace"),
    ({"aksKubernetesVersion": "1.29"}, "kedge:aksKubernetesVersion", "allowed: 1.30 or newer"),
    ({**EXISTING_CLUSTER, "clusterKubernetesVersion": "1.28.3"}, "kedge:clusterKubernetesVersion", "allowed: 1.30 or newer"),
    ({"clusterKubernetesVersion": "1.33"}, "kedge:clusterKubernetesVersion", "allowed: empty (set kedge:aksKubernetesVersion)"),
    ({"aksKubernetesVersion": "latest"}, "kedge:aksKubernetesVersion", "allowed: a version such as 1.33"),
    ({"clusterNodeVersions": "6.8"}, "kedge:clusterNodeVersions", "allowed: e.g. {linux: '6.8'"),
    ({"clusterNodeVersions": {"kernel": "6.8"}}, "kedge:clusterNodeVersions.kernel", "allowed: linux, containerd, cri-o, runc, crun"),
    ({"clusterNodeVersions": {"linux": 6.8}}, "kedge:clusterNodeVersions.linux", "allowed: a quoted version"),
])
def test_bad_declarations_are_refused_naming_the_key(values, key, allowed):
    (problem,) = problems_of(values)
    assert problem.startswith(f"{key}:") and allowed in problem


def test_gaps_are_reported_per_group_and_one_sufficient_runtime_is_enough():
    facts = ClusterFacts((1, 33), {"linux": (6, 8), "containerd": (1, 7), "cri-o": (1, 30), "runc": (1, 2)})
    assert facts.user_namespace_gaps("v", "n") == ([], [])


VM_FLEET = {"devices": [{"id": "vm-1"}]}


@pytest.mark.parametrize("version, refused", [("1.33", True), ("1.33.9", True), ("1.34", False), ("1.36.1", False)])
def test_vm_devices_need_a_kubernetes_the_installed_kubevirt_supports(version, refused):
    """KubeVirt 1.9 is supported on Kubernetes 1.34-1.36 (kubevirt/sig-release k8s-support-matrix.md)."""
    production = {**VM_FLEET, "environment": "production", "aksKubernetesVersion": version}
    key = "kedge:aksKubernetesVersion: "
    if refused:
        assert any(p.startswith(key) and "older than KubeVirt v1.9.0 supports" in p and "allowed: 1.34 or newer" in p
                   for p in problems_of(production))
        assert any(n.startswith(key) for n in load({**VM_FLEET, "aksKubernetesVersion": version}).notices)
    else:
        assert not any(n.startswith(key) for n in load({**VM_FLEET, "aksKubernetesVersion": version}).notices)


def test_the_kubevirt_minimum_binds_only_stacks_that_install_it_for_vm_devices():
    old = {"aksKubernetesVersion": "1.31"}
    assert not any("older than KubeVirt" in n for n in load({**DIND, **old, "dindUserNamespace": False}).notices)
    assert not any("older than KubeVirt" in n for n in load({**VM_FLEET, **old, "kubevirt": "existing"}).notices)
    assert not any("older than KubeVirt" in n for n in load({**VM_FLEET, **old, "kubevirtVersion": "v1.10.0"}).notices)


def _without_ip_forward(values):
    return {key: value for key, value in values.items() if key != "clusterKubeletAllowsIpForward"}


def test_an_existing_cluster_must_declare_that_its_kubelets_allow_the_dind_sysctl():
    """dind pods set net.ipv4.ip_forward, an unsafe sysctl: an undeclared kubelet would refuse every dind pod."""
    values = {**DIND, **_without_ip_forward(EXISTING_CLUSTER), "clusterKubernetesVersion": "1.34", "clusterNodeVersions": READY_NODES}
    (problem,) = problems_of(values)
    assert problem.startswith("kedge:clusterKubeletAllowsIpForward:") and "net.ipv4.ip_forward" in problem
    assert "--kubelet-arg=allowed-unsafe-sysctls=net.ipv4.ip_forward" in problem and "allowed: true" in problem
    assert load({**values, "clusterKubeletAllowsIpForward": True}).dind_user_namespace is True
    # Without dind devices nothing sets the sysctl: nothing to declare.
    assert load({**_without_ip_forward(EXISTING_CLUSTER), "devices": [{"id": "a"}]}).devices


def test_on_aks_kedge_allows_the_sysctl_itself():
    """Nothing to declare: the AKS node pool's kubeletConfig allows it (tests/azure checks the pool)."""
    settings = load({**DIND, "aksKubernetesVersion": "1.33", "clusterNodeVersions": READY_NODES})
    assert settings.dind_user_namespace is True


def test_the_warning_names_what_the_lab_still_finds_open_with_the_node_user_namespace():
    """lab/escapes.py's expected-to-succeed markers (strict in tests/lab) and the warning's list move together."""
    from lab.escapes import EXPECTED_OPEN_HOST_USERS

    mechanisms = {name.split("_")[0] for name in EXPECTED_OPEN_HOST_USERS}
    assert mechanisms == {"bpf"}
    assert all(any(route.startswith(mechanism) for route in HOST_USER_NAMESPACE_ROUTES) for mechanism in mechanisms)
    assert len(HOST_USER_NAMESPACE_ROUTES) == len(mechanisms)
