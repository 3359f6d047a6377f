"""kedge.wiring.runtimes: each device's VM or dind runtime, with what the stack leaves out left out."""

import dataclasses

import pulumi
import pytest

from kedge.wiring.cluster import Cluster, connect
from kedge.wiring.device_files import symmetric_key_files
from kedge.wiring.platform import Platform, site_platform
from kedge.wiring.runtimes import dind_args, runtime_builder, vm_args, vm_restart_args
from tests.harness import run_components
from tests.wiring.stack import read_secret, site

VM = "kedge:index:EdgeVirtualMachine"
DIND = "kedge:index:EdgeDindRuntime"


def platform(kubeconfig=None, context=None, storage_class="kedge-retain", dind=None):
    """A platform without resources, for the functions that only read it."""
    cluster = Cluster(opts=pulumi.ResourceOptions(), kept_objects=None, kubeconfig=kubeconfig, context=context, placement={})
    return Platform(cluster, storage_class, vm=None, dind=dind)


def files(device_id="a"):
    return symmetric_key_files(device_id, "hub.azure-devices.net", device_id, "key")


@pytest.mark.parametrize("kubeconfig, context, expected", [
    (None, None, {}), (None, "", {}), ("<kubeconfig>", None, {"kubeconfig": "<kubeconfig>"}),
    (None, "site", {"context": "site"}), ("<kubeconfig>", "site", {"kubeconfig": "<kubeconfig>", "context": "site"}),
])
def test_a_vm_restart_reaches_the_stacks_cluster_with_only_what_the_stack_gives(kubeconfig, context, expected):
    assert vm_restart_args(platform(kubeconfig, context)) == expected


def test_restarts_and_an_image_login_are_left_out_where_the_stack_does_not_ask_for_them():
    settings = site(devices=[{"id": "a"}], vmRestartWhenNeeded=False)
    (device,) = settings.vm_devices
    _, plain = run_components(lambda: vm_args(device, settings, platform(), files(), read_secret))
    assert "restart_when_needed" not in plain and "image_login" not in plain

    asking = site({"vmImagePassword": "image-password"}, devices=[{"id": "a"}], vmImageUsername="reader")
    _, args = run_components(lambda: vm_args(asking.vm_devices[0], asking, platform(context="site"), files(), read_secret))
    assert args["restart_when_needed"] == {"context": "site"}
    assert args["image_login"]["username"] == "reader"


@pytest.mark.parametrize("own, adopted, expected", [
    (None, False, "kedge-retain"), ("fast", False, "fast"),
    # A disk taken over is sent exactly as its template made it: no class kedge chose.
    (None, True, None), ("fast", True, "fast"),
])
def test_a_vms_disk_gets_its_own_class_or_the_sites_unless_adopted(own, adopted, expected):
    settings = site(devices=[{"id": "a"}])
    device = settings.vm_devices[0]
    device = dataclasses.replace(device, vm=dataclasses.replace(device.vm, storage_class=own, adopt_template_disk=adopted))
    _, args = run_components(lambda: vm_args(device, settings, platform(), files(), read_secret))
    assert args["storage_class"] == expected


def test_a_dind_pull_credential_is_left_out_unless_the_stack_names_a_user():
    settings = site(devices=[{"id": "a", "mode": "dind", "storageClass": "fast"}, {"id": "b", "mode": "dind"}])
    run, hosting = run_components(lambda: site_platform(settings, connect(settings, None, read_secret), read_secret).dind)
    a, b = settings.dind_devices
    args = dind_args(a, settings, platform(), hosting, files(), read_secret)
    assert "image_pull_credential" not in args and args["storage_class"] == "fast"
    assert dind_args(b, settings, platform(), hosting, files(), read_secret)["storage_class"] == "kedge-retain"

    pulling = site({"dindRegistryPassword": "pull"}, devices=[{"id": "a", "mode": "dind"}], dindRegistryUsername="puller")
    _, args = run_components(lambda: dind_args(pulling.dind_devices[0], pulling, platform(), hosting, files(), read_secret))
    assert args["image_pull_credential"]["username"] == "puller"


def test_each_runtime_waits_for_its_hosting_and_for_what_the_rollout_puts_before_it():
    settings = site(kubevirt="existing", devices=[{"id": "v"}, {"id": "d", "mode": "dind"}])

    def build():
        site_ = site_platform(settings, connect(settings, None, read_secret), read_secret)
        before = pulumi.CustomResource("test:index:Before", "before")
        runtime = runtime_builder(settings, site_, {"v": files("v"), "d": files("d")}, read_secret)
        return [runtime(device, pulumi.ResourceOptions(depends_on=[before])) for device in settings.devices]

    run, runtimes = run_components(build)
    before = run.one("test:index:Before").urn
    vms, dind = run.one("kubernetes:core/v1:Namespace", "vms").urn, run.one("kubernetes:core/v1:Namespace", "dind").urn
    assert {before, vms} <= set(run.one(VM, "v").dependencies) and dind not in run.one(VM, "v").dependencies
    assert {before, dind} <= set(run.one(DIND, "d").dependencies) and vms not in run.one(DIND, "d").dependencies
    assert run.one(VM, "v").provider == run.one(DIND, "d").provider == ""  # components: their children get the provider


def test_a_device_the_site_does_not_host_is_refused():
    settings = site(devices=[{"id": "a"}])
    with pytest.raises(ValueError, match="hosts no vm devices"):
        run_components(lambda: runtime_builder(settings, platform(), {"a": files()}, read_secret)(settings.devices[0], pulumi.ResourceOptions()))
