"""Another project can pip-install this repository and import the components as `kedge`."""

import os
import subprocess
import sys
import sysconfig

from tests.harness import ROOT


def test_installed_package_imports_as_kedge_not_components(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    assert (target / "kedge" / "py.typed").exists()
    assert not (target / "components").exists()
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    script = (
        "import kedge.settings, kedge.azure.iot_hub, kedge.azure.aks_cluster, kedge.cluster.edge_vm\n"
        "from kedge.cluster.profile_loader import profiles_dir, read_profiles\n"
        "assert 'kedge-dind.apparmor' in read_profiles() and 'kedge-dind.seccomp.json' in read_profiles()\n"
        "assert str(profiles_dir()).endswith('kedge/profiles'), profiles_dir()\n"
        "from kedge.azure.iot_hub import IotHub, IotHubArgs\n"
        "import importlib.util\n"
        "assert importlib.util.find_spec('components') is None\n"
        "print(kedge.settings.__file__)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]]))
    result = subprocess.run([sys.executable, "-c", script], cwd=consumer, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(target))
