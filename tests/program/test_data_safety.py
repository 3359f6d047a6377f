"""Device data survives every path that deletes things: a mode's last device leaving, a VM's
replacement, a device coming back, `pulumi destroy`.

The engine deletes what the new run no longer registers, and a delete honours the retainOnDelete
the resource had in the old state. So each path is run twice, before and after, and everything the
engine would delete is checked: whatever holds device data must be kept, and nothing deleted may
be something whose deletion the cluster refuses (an operator's uninstall blocked by workloads).
"""

import pytest

from tests.harness import ProgramRun, load_stack_config, run_example_stack

DATA_VOLUME = "kubernetes:cdi.kubevirt.io/v1beta1:DataVolume"
NAMESPACE = "kubernetes:core/v1:Namespace"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
INSTALLATION = ("kubernetes:kubevirt.io/v1:KubeVirt", "kubernetes:cdi.kubevirt.io/v1beta1:CDI", "kubernetes:yaml/v2:ConfigFile")
DEVICE_NAMESPACES = ("kedge-vms", "kedge-dind")


def deleted_by_engine(before: ProgramRun, after: ProgramRun) -> list:
    """What `pulumi up` would delete going from `before` to `after` (as `before` registered it)."""
    remaining = {r.urn for r in after.resources}
    return [r for r in before.resources if r.urn not in remaining and r.custom]


def holds_device_data(resource) -> bool:
    if resource.type == DATA_VOLUME:
        return True
    if resource.type == NAMESPACE:
        return resource.get("metadata.name") in DEVICE_NAMESPACES
    return resource.type in INSTALLATION  # removing CDI removes every DataVolume with it


def assert_nothing_of_value_is_deleted(before: ProgramRun, after: ProgramRun) -> list:
    deleted = deleted_by_engine(before, after)
    lost = [f"{r.type} {r.name}" for r in deleted if holds_device_data(r) and not r.retain_on_delete]
    assert lost == []
    blocked = [r.name for r in deleted if r.get("spec.uninstallStrategy") == "BlockUninstallIfWorkloadsExist"
               and not r.retain_on_delete]
    assert blocked == []  # a delete the operator refuses would leave `pulumi up` failing
    return deleted


def without_devices() -> ProgramRun:
    return ProgramRun(stack="destroyed", resources=[])


@pytest.mark.parametrize("stack", ["dev", "dev-dind", "site"])
def test_destroy_keeps_every_device_volume_and_never_waits_on_a_blocked_uninstall(stack):
    before = run_example_stack(stack)
    deleted = assert_nothing_of_value_is_deleted(before, without_devices())
    assert any(holds_device_data(r) for r in deleted)  # the check saw the objects it guards


def test_the_last_vm_device_leaving_keeps_its_disk_namespace_and_kubevirt():
    config = load_stack_config("site")
    dind_only = [d for d in config["devices"] if d.get("mode") == "dind"]
    before, after = run_example_stack("site"), run_example_stack("site", {"devices": dind_only})
    deleted = assert_nothing_of_value_is_deleted(before, after)
    kinds = {r.type for r in deleted}
    assert {DATA_VOLUME, "kubernetes:kubevirt.io/v1:VirtualMachine", "kubernetes:cdi.kubevirt.io/v1beta1:CDI"} <= kinds
    assert [r.get("metadata.name") for r in deleted if r.type == NAMESPACE] == ["kedge-vms"]


def test_the_last_dind_device_leaving_keeps_its_claims_through_the_namespace_and_the_set_policy():
    config = load_stack_config("site")
    vm_only = [d for d in config["devices"] if d.get("mode") != "dind"]
    before, after = run_example_stack("site"), run_example_stack("site", {"devices": vm_only})
    deleted = assert_nothing_of_value_is_deleted(before, after)
    (stateful_set,) = [r for r in deleted if r.type == STATEFUL_SET]
    # The claims come from volumeClaimTemplates (not Pulumi resources): the set leaves them behind,
    # the kept namespace keeps them, and their class keeps the volumes even if a claim goes.
    assert stateful_set.get("spec.persistentVolumeClaimRetentionPolicy") == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    classes = {t["spec"].get("storageClassName") for t in stateful_set.get("spec.volumeClaimTemplates")}
    assert classes == {"kedge-retain"}
    assert after.one(STORAGE_CLASS).get("reclaimPolicy") == "Retain"


def test_a_replaced_vm_leaves_its_root_disk_alone():
    """Deleting a VM (replaced, or its device gone) cannot take its disk: the disk is no template of
    the VM and names no owner, so the garbage collector has nothing to follow."""
    run = run_example_stack("dev")
    for disk in run.of_type(DATA_VOLUME):
        assert disk.get("metadata.ownerReferences") is None
        assert disk.retain_on_delete and disk.ignore_changes == ("spec",)
    for vm in run.of_type("kubernetes:kubevirt.io/v1:VirtualMachine"):
        assert vm.get("spec.dataVolumeTemplates") is None
