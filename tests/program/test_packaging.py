"""Another project can pip-install this repository into its venv and import the components as `kedge`."""

import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.harness import ROOT


def test_a_fresh_venv_installs_the_package_and_imports_it_from_outside_the_repo(tmp_path):
    venv = tmp_path / "consumer-venv"
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
    consumer = tmp_path / "consumer"
    consumer.mkdir()
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
        "assert len(provider['COMPONENTS']) == 9\n"
        "assert (importlib.util.find_spec('kedge').submodule_search_locations[0]).startswith(%r)\n"
        "print(kedge.__file__)\n" % (str(ROOT / "provider" / "__main__.py"), site_packages)
    )
    result = subprocess.run([python, "-c", script], cwd=consumer, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (venv / "lib").exists() and result.stdout.strip().startswith(site_packages)
