"""The vm lab's host-side pieces, without a guest: the share written the kubelet's way, kedge's
user-data taken byte for byte, and the stand-in repository (signed, every version listed)."""

import os
import subprocess

import yaml

from kedge.render.guest_sync import BOOTSTRAP, REPOSITORY_FILE
from tests.harness import ROOT


def test_the_share_is_swapped_as_the_kubelet_swaps_a_secret_volume(tmp_path):
    from lab.vm import KubeletShare

    share = KubeletShare(tmp_path / "share")
    first = share.publish({"config.toml": "a\n", "old.pem": "x\n"})
    second = share.publish({"config.toml": "b\n"})
    assert os.readlink(tmp_path / "share" / "..data") == second
    assert not (tmp_path / "share" / first).exists()  # the old version goes once the link moved
    assert (tmp_path / "share" / "config.toml").read_text() == "b\n"
    assert os.readlink(tmp_path / "share" / "config.toml") == "..data/config.toml"
    assert not (tmp_path / "share" / "old.pem").is_symlink()  # a file no longer in the Secret disappears
    assert oct((tmp_path / "share" / second / "config.toml").stat().st_mode & 0o777) == "0o644"


def test_the_guest_gets_kedges_user_data_and_share_for_the_device():
    from lab.vm import vm_device
    from tests.harness import run_example_stack

    device = vm_device(ROOT / "stacks" / "Pulumi.dev.yaml", "dev-edge-01")
    rendered = run_example_stack("dev").one("kubernetes:core/v1:Secret", "dev-edge-01-userdata").get("stringData.userdata")
    assert device.user_data == rendered
    files = {f["path"] for f in yaml.safe_load(device.user_data)["write_files"]}
    assert {BOOTSTRAP, REPOSITORY_FILE} <= files
    assert device.release == "24.04"
    assert {"config.toml", "kedge-guest-sync", "aziot-edge-version"} <= set(device.share_files)


def test_the_stand_in_repository_is_signed_and_holds_every_version(lab_machine, tmp_path):
    from lab import vm_repository

    out = vm_repository.build(tmp_path / "repo", "24.04")
    prod = out / "ubuntu" / "24.04" / "prod"
    packages = (prod / "dists" / "noble" / "main" / "binary-amd64" / "Packages").read_text()
    for version in vm_repository.VERSIONS:
        assert f"Version: {version}" in packages
    assert "Package: moby-engine" in packages
    inrelease = (prod / "dists" / "noble" / "InRelease").read_text()
    assert inrelease.startswith("-----BEGIN PGP SIGNED MESSAGE-----")
    deb = out / "config" / "ubuntu" / "24.04" / "packages-microsoft-prod.deb"
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], check=True, capture_output=True, text=True).stdout
    assert "./etc/apt/sources.list.d/microsoft-prod.list" in listing and "./usr/share/keyrings/microsoft-prod.gpg" in listing
