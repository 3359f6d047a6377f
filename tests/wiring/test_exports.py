"""kedge.wiring.exports: what the stack reports about its devices, from what the wiring built."""

import pytest

from kedge.cluster.power_fencing import AGENT_TIMEOUT_SECONDS
from kedge.render.quantities import Requests
from kedge.wiring.cluster import connect
from kedge.wiring.device_files import symmetric_key_files
from kedge.wiring.exports import footprint, recovery_inputs, ssh_commands
from kedge.wiring.platform import site_platform
from kedge.wiring.runtimes import runtime_builder
from tests.harness import run_components
from tests.wiring.stack import FENCING, read_secret, site

ZERO = Requests().to_dict()


def built(settings):
    """The platform and every device's runtime of a site stack with `settings`."""
    def build():
        platform = site_platform(settings, connect(settings, None, read_secret), read_secret)
        files = {d.device_id: symmetric_key_files(d.kubernetes_name, "hub", d.device_id, "key") for d in settings.devices}
        runtime = runtime_builder(settings, platform, files, read_secret)
        return platform, {d.device_id: runtime(d, None) for d in settings.devices}

    return run_components(build)[1]


def test_a_stack_without_a_platform_asks_nothing_of_a_cluster():
    assert footprint(None, {}) == {"vmDevices": ZERO, "dindDevices": ZERO, "kubevirtControlPlane": ZERO,
                                   "profileLoaderPerNode": ZERO, "total": ZERO}


@pytest.mark.parametrize("modes", [["vm"], ["dind"], ["vm", "dind"]])
def test_each_mode_counts_its_own_runtimes_and_its_platform_and_the_total_all(modes):
    platform, runtimes = built(site(kubevirt="kedge", devices=[{"id": m, "mode": m} for m in modes]))
    result = footprint(platform, runtimes)
    assert (result["vmDevices"] != ZERO, result["kubevirtControlPlane"] != ZERO) == ("vm" in modes, "vm" in modes)
    assert (result["dindDevices"] != ZERO, result["profileLoaderPerNode"] != ZERO) == ("dind" in modes, "dind" in modes)
    parts = [runtime.requests for runtime in runtimes.values()]
    if platform.vm:
        parts.append(platform.vm.virtualization.control_plane_requests)
    assert result["total"] == sum(parts, Requests()).to_dict()


def test_only_vms_with_an_ssh_service_have_an_ssh_command():
    settings = site(devices=[{"id": "open", "sshService": "ClusterIP"}, {"id": "closed", "sshService": "none"}, {"id": "d", "mode": "dind"}])
    _, runtimes = built(settings)
    assert list(ssh_commands(settings, runtimes)) == ["open"]


def test_recovery_counts_power_fencing_only_where_the_stack_sets_it_and_lists_the_modes_in_use():
    plain = recovery_inputs(site(devices=[{"id": "b", "mode": "dind"}, {"id": "a"}, {"id": "c"}]))
    assert plain.modes == ("dind", "vm") and plain.power_fencing is None and plain.automatic
    fenced = recovery_inputs(site({"nodePowerFencingPassword": "bmc"}, devices=[{"id": "a"}],
                                  **{**FENCING, "nodePowerFencing": {**FENCING["nodePowerFencing"], "escalationSeconds": 420}}))
    assert (fenced.power_fencing.agent_seconds, fenced.power_fencing.escalation_seconds) == (AGENT_TIMEOUT_SECONDS, 420)
    assert not recovery_inputs(site(nodeRemediation="none")).automatic
