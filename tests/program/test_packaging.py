"""Another project can pip-install this repository into its venv and import the components as `kedge`."""

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from mypy import api

from tests.harness import ROOT

EXAMPLE = ROOT / "examples" / "python"


@pytest.fixture(scope="module")
def consumer(tmp_path_factory) -> tuple[Path, str]:
    """A fresh venv with kedge pip-installed into it: its python, and its site-packages."""
    venv = tmp_path_factory.mktemp("consumer") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True, capture_output=True, text=True
    ).stdout.strip()
    # The heavy dependencies (Pulumi SDKs) come from this test run's environment through a .pth
    # file instead of a second download; the package itself is installed by pip, as a consumer would.
    (Path(site_packages) / "zz-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(ROOT)],
        capture_output=True, text=True,
    )
    if install.returncode != 0:  # no setuptools in the fresh venv: let pip build in isolation
        install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(ROOT)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    return python, site_packages


def test_a_fresh_venv_installs_the_package_and_imports_it_from_outside_the_repo(consumer, tmp_path):
    python, site_packages = consumer
    script = (
        "import importlib.util, kedge\n"
        "from kedge.azure.iot_hub import IotHub, IotHubArgs\n"
        "from kedge.azure.edge_device import EdgeDeviceIdentity\n"
        "from kedge.cluster.edge_vm import EdgeVirtualMachine\n"
        "from kedge.cluster.edge_dind import EdgeDindRuntime\n"
        "from kedge.cluster.profile_loader import profiles_dir, read_profiles\n"
        "assert set(read_profiles()) == {'kedge-dind.apparmor', 'kedge-dind.seccomp.json'}\n"
        "assert str(profiles_dir()).endswith('kedge/profiles'), profiles_dir()\n"
        "assert importlib.util.find_spec('components') is None, 'must not claim a generic top-level name'\n"
        "import runpy\n"
        "provider = runpy.run_path(%r, run_name='kedge_provider')  # imports only; the host starts under __main__\n"
        "assert len(provider['COMPONENTS']) == 17\n"
        "assert (importlib.util.find_spec('kedge').submodule_search_locations[0]).startswith(%r)\n"
        "print(kedge.__file__)\n" % (str(ROOT / "provider" / "__main__.py"), site_packages)
    )
    result = subprocess.run([python, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(site_packages)


# Runs examples/python/__main__.py under kedge's test mocks in the consumer venv; `kedge` comes
# from that venv's site-packages (the repository root holds no `kedge`, only tests.harness).
RUN_EXAMPLE = """
import json, sys
from pathlib import Path
sys.path.append({root!r})
import kedge
from tests.harness import run_program
run = run_program("dev", {{"resourceGroup": "rg-edge"}}, main=Path({main!r}), project="kedge-python-example")
print(json.dumps({{
    "kedge": kedge.__file__,
    "exports": run.exports,
    "resources": [
        {{"type": r.type, "name": r.name, "parent": r.parent, "urn": r.urn, "dependencies": list(r.dependencies),
          "inputs": r.inputs, "secret_paths": sorted(r.secret_paths)}}
        for r in run.resources
    ],
}}, default=str))
"""


def test_the_python_example_composes_the_components_from_the_installed_package(consumer, tmp_path):
    python, site_packages = consumer
    script = RUN_EXAMPLE.format(root=str(ROOT), main=str(EXAMPLE / "__main__.py"))
    result = subprocess.run([python, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout.strip().splitlines()[-1])
    assert run["kedge"].startswith(site_packages)
    by_name = {(r["type"], r["name"]): r for r in run["resources"]}

    # The device's config Secret holds config.toml with the identity's key, as a secret.
    config_secret = by_name[("kubernetes:core/v1:Secret", "edge-1-config")]
    assert config_secret["secret_paths"] == ["stringData"]
    config_toml = config_secret["inputs"]["stringData"]["config.toml"]
    assert 'iothub_hostname = "hub' in config_toml and "device_id_pk" in config_toml
    # The VM boots the renderer's user-data and sits in the namespace it waits for.
    vm = by_name[("kubernetes:kubevirt.io/v1:VirtualMachine", "edge-1")]
    namespace = by_name[("kubernetes:core/v1:Namespace", "vms")]
    assert vm["inputs"]["metadata"]["namespace"] == "edge-vms" and namespace["urn"] in vm["dependencies"]
    assert vm["inputs"]["spec"]["runStrategy"] == "Always"
    for operator in (("kubernetes:kubevirt.io/v1:KubeVirt", "virtualization-kubevirt"), ("kubernetes:cdi.kubevirt.io/v1beta1:CDI", "virtualization-cdi")):
        assert by_name[operator]["urn"] in vm["dependencies"], operator
    assert run["exports"]["vmName"] == "edge-1" and run["exports"]["hubHostname"].endswith(".azure-devices.net")


def test_the_python_example_type_checks_against_the_shipped_annotations():
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), str(EXAMPLE / "__main__.py")])
    assert status == 0, stdout + stderr


def test_the_installed_console_script_checks_an_example_stack(consumer, tmp_path):
    """`kedge check` from the installed package, outside the repository, with no Pulumi CLI."""
    python, _ = consumer
    kedge = Path(python).parent / "kedge"
    result = subprocess.run([kedge, "check", str(ROOT / "stacks" / "Pulumi.dev-dind.yaml")], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("stack dev-dind: environment dev, cluster aks, hub create")
    assert subprocess.run([kedge], capture_output=True, text=True).returncode == 2


def test_the_package_and_the_programs_venv_ask_for_the_same_dependencies():
    """requirements.txt (what `pulumi up` installs) and pyproject's dependencies (what a consumer's pip
    installs) name the same packages with the same version ranges: a fix that needs a newer SDK
    (pulumi-kubernetes 4.29's refusal to take over existing objects) must reach both."""
    import tomllib

    from packaging.requirements import Requirement

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    package = {Requirement(line).name: Requirement(line).specifier for line in declared}
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    program = {Requirement(line).name: Requirement(line).specifier for line in lines if line and not line.startswith("-")}
    assert package == program
