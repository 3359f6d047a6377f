"""The shipped annotations (py.typed) hold for kedge's own wiring: mypy checks __main__.py and the package.

The settings in pyproject.toml's [tool.mypy] are the ones used; pulumi-azure-native is left
unfollowed there (its generated modules make a clean check take minutes), everything else is checked.
"""

import textwrap

import pytest
from mypy import api

from tests.harness import ROOT


def _mypy(*arguments: str) -> tuple[str, int]:
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), *arguments])
    return stdout + stderr, status


def test_the_program_and_the_package_type_check():
    report, status = _mypy()
    assert status == 0, report


@pytest.mark.parametrize(
    "wiring, error",
    [
        # A device's VM settings are optional on DeviceSettings (dind devices have none), so wiring
        # that reads them from the whole fleet is rejected; vm_devices gives VmDevice, where they exist.
        ("settings.devices[0].vm.memory", 'Item "None" of "VmSettings | None" has no attribute "memory"'),
        # A typo'd or mistyped component argument is caught before the program runs.
        ('EdgeVirtualMachineArgs(name="a", namespace="b", user_data="", config_files={}, image_url="u", '
         'mac_address="02:00:00:00:00:01", cpu_cores="8")',
         '"cpu_cores" has type "int"'),
    ],
)
def test_the_check_fails_on_wiring_that_breaks_the_annotations(tmp_path, wiring, error):
    good = textwrap.dedent(
        """
        from kedge.cluster.edge_vm import EdgeVirtualMachineArgs
        from kedge.config.settings import Settings

        def wire(settings: Settings) -> object:
            return settings.vm_devices[0].vm.memory
        """
    )
    program = tmp_path / "wiring.py"
    program.write_text(good)
    report, status = _mypy(str(program))
    assert status == 0, report

    program.write_text(good.replace("settings.vm_devices[0].vm.memory", wiring))
    report, status = _mypy(str(program))
    assert status == 1 and error in report, report
