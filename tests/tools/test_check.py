"""`python -m kedge check`: a stack file checked offline, with no Pulumi, Azure or cluster."""

import io
import subprocess
import sys

import pytest
import yaml

from kedge.check import main
from kedge.config.stack_file import StackFileSource
from tests.harness import ROOT, STACKS_DIR, TEST_SECRETS, fake_pem, needs_secret, load_stack_config


def check(*argv):
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def secret_args(stack, tmp_path):
    """--secret KEY=FILE for every secret the stack file's set-up steps set, from the tests' values."""
    config = load_stack_config(stack)
    args = []
    for key, value in TEST_SECRETS.items():
        if needs_secret(config, key):
            path = tmp_path / key
            path.write_text(value)
            args += ["--secret", f"{key}={path}"]
    return args


@pytest.mark.parametrize("stack", ["dev", "dev-dind", "hub", "plant", "site"])
def test_every_example_stack_passes_with_the_secrets_its_readme_steps_set(stack, tmp_path):
    status, out = check(str(STACKS_DIR / f"Pulumi.{stack}.yaml"), *secret_args(stack, tmp_path))
    assert status == 0, out
    assert out.startswith(f"stack {stack}: environment ")


def test_without_its_secrets_a_stack_is_refused_naming_each_missing_one():
    status, out = check(str(STACKS_DIR / "Pulumi.site.yaml"))
    assert status == 1
    assert "kedge:devices[1].certificates.trustBundle: names kedge:siteRootCa, which is not set" in out


def test_encrypted_values_count_as_set_secrets_and_are_said_to_be_unchecked(tmp_path):
    config = yaml.safe_load((STACKS_DIR / "Pulumi.site.yaml").read_text())["config"]
    for key in ("gatewayIdentityCert", "gatewayIdentityKey", "siteRootCa"):
        config[f"kedge:{key}"] = {"secure": "v1:AAAABBBB"}
    path = tmp_path / "Pulumi.site.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    status, out = check(str(path))
    assert status == 0, out
    assert "not checked: the content of kedge:gatewayIdentityCert, kedge:gatewayIdentityKey, kedge:siteRootCa" in out
    # Given as a file, a secret's content is checked: a certificate that is not one is refused.
    bad = tmp_path / "root.pem"
    bad.write_text(fake_pem("PRIVATE KEY", "not-a-certificate"))
    status, out = check(str(path), "--secret", f"siteRootCa={bad}")
    assert status == 1 and "kedge:devices[1].certificates.trustBundle: names kedge:siteRootCa, which" in out


def test_a_bad_setting_is_refused_with_its_key_and_what_is_allowed(tmp_path):
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump({"config": {"kedge:hubSku": "B1", "kedge:devices": [{"id": "a", "cpuCores": 99}]}}))
    status, out = check(str(path))
    assert status == 1
    assert "kedge:hubSku: 'B1' is not allowed; allowed:" in out and "kedge:devices[0].cpuCores: 99 is not allowed" in out


@pytest.mark.parametrize("argv", [["nowhere.yaml"], [str(STACKS_DIR / "Pulumi.dev.yaml"), "--secret", "novalue"]])
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as stopped:
        check(*argv)
    assert stopped.value.code == 2


def test_the_command_runs_as_a_module_and_loads_no_pulumi_module():
    probe = ("import runpy, sys; sys.argv = ['kedge', 'check', sys.argv[1]]\n"
             "try:\n    runpy.run_module('kedge', run_name='__main__')\n"
             "except SystemExit as stop:\n"
             "    print('exit', stop.code, sorted(m for m in sys.modules if m.split('.')[0].startswith('pulumi')))")
    done = subprocess.run([sys.executable, "-c", probe, str(STACKS_DIR / "Pulumi.dev-dind.yaml")], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert done.stdout.rstrip().endswith("exit 0 []"), done.stdout + done.stderr


def test_objects_reach_the_settings_as_pulumi_hands_them_over():
    source = StackFileSource({"kedge:devices": [{"id": "a"}], "other:key": 1, "kedge:hubSku": "S1"})
    assert source.get("devices") == '[{"id": "a"}]' and source.get("hubSku") == "S1" and list(source.keys()) == ["devices", "hubSku"]


@pytest.mark.parametrize("content, words", [
    (b"config:\n  kedge:devices: [\n", "not valid YAML at line"),
    (b"config:\n  kedge:environment: dev\n\xff\xfe\n", "not UTF-8 text"),
    (b"config: " + b"[" * 3000 + b"\n", "not valid YAML"),
    (b"config:\n  ? [a, b]\n  : 1\n", "found unhashable key"),
    (b"config:\n  3: x\n  null: y\n", "config: keys are names"),
    (b"- a\n- b\n", "a stack file is a mapping"),
    (b"config: [1, 2]\n", "config: is a mapping of settings"),
    (b'config: "x"\n', "config: is a mapping of settings"),
])
def test_a_stack_file_pulumi_could_not_read_is_refused_plainly(content, words, tmp_path):
    stack_file = tmp_path / "Pulumi.broken.yaml"
    stack_file.write_bytes(content)
    status, out = check(str(stack_file))
    assert status == 1 and out.startswith("error: ") and words in out and "Traceback" not in out, out


def test_a_secret_file_that_is_not_text_is_refused_naming_its_key(tmp_path):
    der = tmp_path / "cert.der"
    der.write_bytes(b"\x30\x82\x01\xff\xfe\x00")
    status, out = check(str(STACKS_DIR / "Pulumi.site.yaml"), "--secret", f"siteRootCa={der}")
    assert status == 1 and "kedge:siteRootCa is not UTF-8 text" in out, out


@pytest.mark.parametrize("key", ["devices", "location"])
def test_a_plain_setting_cannot_be_given_as_a_secret_file(key, tmp_path, capsys):
    value = tmp_path / "value"
    value.write_text("[]")
    with pytest.raises(SystemExit) as stopped:
        check(str(STACKS_DIR / "Pulumi.dev.yaml"), "--secret", f"kedge:{key}={value}")
    message = capsys.readouterr().err
    assert stopped.value.code == 2 and f"kedge:{key} is not a secret setting" in message and "vmImagePassword" in message, message


def test_a_secret_setting_and_a_secret_the_devices_name_are_taken_from_files(tmp_path):
    password, root_ca = tmp_path / "password", tmp_path / "root-ca.pem"
    password.write_text("hunter2-but-longer")
    root_ca.write_text(fake_pem("CERTIFICATE", "site root"))
    for stack, key, path in (("dev", "vmImagePassword", password), ("site", "siteRootCa", root_ca)):
        status, out = check(str(STACKS_DIR / f"Pulumi.{stack}.yaml"), "--secret", f"{key}={path}")
        assert "is not a secret setting" not in out, out
