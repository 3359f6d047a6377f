"""`kedge render`: every example stack rendered offline, in agreement with the registration
snapshots, with secrets redacted, and `--diff` naming what a change touches.

Each render runs `python -m kedge render` in its own process, as a user runs it (one program per
process, as Pulumi runs one); the test harness is used only for the example stacks' test secrets.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kedge.render_stack.mocks import placeholder_key
from tests.harness import HUB_STACK_OUTPUTS, STACKS_DIR, TEST_SECRETS, example_stacks, load_stack_config, needs_secret
from tests.snapshot import _mask, load


def render(stack_file: Path, out: Path, *extra: str, secrets_dir: Path | None = None, stack: str | None = None):
    """Runs `kedge render`; the example stack's secrets (as its README steps set them) given as files."""
    args = [sys.executable, "-m", "kedge", "render", str(stack_file), "--out", str(out), *extra]
    if secrets_dir is not None:
        config = load_stack_config(stack) if stack else {}
        for key, value in TEST_SECRETS.items():
            if needs_secret(config, key):
                (secrets_dir / key).write_text(value)
                args += ["--secret", f"{key}={secrets_dir / key}"]
    return subprocess.run(args, capture_output=True, text=True, cwd=out.parent)


def hub_outputs_file(tmp: Path) -> Path:
    path = tmp / "hub-outputs.json"
    path.write_text(json.dumps(HUB_STACK_OUTPUTS["organization/kedge/hub"]))
    return path


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """Every example stack rendered twice: with secrets shown (to compare) and redacted (the default)."""
    made = {}
    for stack in example_stacks():
        tmp = tmp_path_factory.mktemp(stack)
        for shown in (True, False):
            out = tmp / ("shown" if shown else "redacted")
            result = render(STACKS_DIR / f"Pulumi.{stack}.yaml", out, "--organization", "contoso", "--hub-outputs",
                            str(hub_outputs_file(tmp)), *(["--show-secrets"] if shown else []), secrets_dir=tmp, stack=stack)
            assert result.returncode == 0, result.stdout + result.stderr
            made[stack, shown] = (out, result.stdout)
    return made


def rendered_inputs(out: Path, resource: dict):
    if resource["file"] is None:
        return {}
    text = (out / resource["file"]).read_text()
    return yaml.safe_load(text) if resource["file"].endswith(".yaml") else json.loads(text)


@pytest.mark.parametrize("stack", example_stacks())
def test_a_render_holds_exactly_what_the_snapshot_records(renders, stack):
    out, stdout = renders[stack, True]
    assert stdout.startswith(f"stack {stack}: ") and "rendered " in stdout
    index = json.loads((out / "index.json").read_text())
    rendered = {r["urn"]: r for r in index["resources"]}
    snapshot = load(stack)
    assert sorted(rendered) == sorted(snapshot)
    for urn, recorded in snapshot.items():
        resource = rendered[urn]
        assert (resource["type"], resource["parent"], resource["custom"]) == (recorded["type"], recorded["parent"], recorded["custom"]), urn
        assert sorted(resource["dependencies"]) == recorded["dependencies"], urn
        # The engine receives secrets where they are nested; the snapshot's SDK-side reading lifts
        # them to the enclosing value. Each must lie inside the other's, and the rest be equal.
        for path in resource["secretPaths"]:
            assert any(path == p or path.startswith(p + ".") for p in recorded["secretPaths"]), (urn, path)
        for path in recorded["secretPaths"]:
            assert any(p == path or p.startswith(path + ".") for p in resource["secretPaths"]), (urn, path)
        assert _mask(rendered_inputs(out, resource), set(recorded["secretPaths"])) == recorded["inputs"], urn


@pytest.mark.parametrize("stack", example_stacks())
def test_the_render_lays_out_objects_devices_deployments_and_gates(renders, stack):
    out, _ = renders[stack, False]
    index = json.loads((out / "index.json").read_text())
    config = load_stack_config(stack)
    devices = [d["id"] for d in config.get("devices") or []]
    assert sorted(index["devices"]) == sorted(devices)
    for device in devices:
        files = {Path(f).name for f in index["devices"][device]["files"]}
        assert {"config.toml", "identity.json"} <= files, (device, files)
        toml = (out / "devices" / device / "config.toml").read_text()
        assert f'device_id = "{device}"' in toml or "[provisioning]" in toml
        vm = [r for r in index["resources"] if r["device"] == device and r["type"].endswith("VirtualMachine")]
        assert ("user-data" in files) == bool(vm), device
    for resource in index["resources"]:
        if resource["type"].startswith("kubernetes:") and resource["custom"] and resource["file"]:
            document = yaml.safe_load((out / resource["file"]).read_text())
            metadata = document.get("metadata", {})
            assert resource["file"].startswith(f"kubernetes/{metadata.get('namespace') or '_cluster'}/"), resource["file"]
    assert len(index["deployments"]) == len(config.get("deployments") or [])
    for file in index["deployments"]:
        deployment = json.loads((out / file).read_text())
        assert "modulesContent" in json.dumps(deployment["content"]) or "$edgeAgent" in json.dumps(deployment["content"])
    assert all((out / f).is_file() for f in index["gates"])


def secret_fragments(stack: str) -> dict[str, str]:
    """Every secret the render may see, and pieces of it that must not appear either."""
    config = load_stack_config(stack)
    values = {k: v for k, v in TEST_SECRETS.items() if needs_secret(config, k)}
    for device in config.get("devices") or []:
        values[f"key of {device['id']}"] = placeholder_key(f"device/{device['id']}")
    fragments = {}
    for what, value in values.items():
        fragments[value] = what
        fragments[base64.b64encode(value.encode()).decode()] = f"base64 of {what}"
        for line in value.splitlines():
            if len(line) >= 16 and not line.startswith("-----"):
                fragments[line] = f"a line of {what}"
    return fragments


@pytest.mark.parametrize("stack", example_stacks())
def test_no_secret_lands_in_a_default_render(renders, stack):
    out, _ = renders[stack, False]
    shown, _ = renders[stack, True]
    fragments = secret_fragments(stack)
    seen_in_shown = set()
    for path in shown.rglob("*"):
        if path.is_file():
            seen_in_shown |= {f for f in fragments if f in path.read_text()}
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text()
            leaked = [what for fragment, what in fragments.items() if fragment in text]
            assert leaked == [], (path.relative_to(out), leaked)
    # The secrets were there to leak: --show-secrets writes them.
    if any(needs_secret(load_stack_config(stack), k) for k in TEST_SECRETS) or load_stack_config(stack).get("devices"):
        assert seen_in_shown


def test_a_device_config_keeps_its_settings_and_loses_its_key(renders):
    out, _ = renders["dev", False]
    toml = (out / "devices" / "dev-edge-01" / "config.toml").read_text()
    assert 'device_id = "dev-edge-01"' in toml and "<redacted device key of dev-edge-01>" in toml
    shown, _ = renders["dev", True]
    assert placeholder_key("device/dev-edge-01") in (shown / "devices" / "dev-edge-01" / "config.toml").read_text()


def edited_stack(tmp: Path, stack: str, edit) -> Path:
    document = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())
    edit(document["config"])
    folder = tmp / "stacks"
    folder.mkdir(exist_ok=True)
    path = folder / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def device(config: dict, device_id: str) -> dict:
    return next(d for d in config["kedge:devices"] if d["id"] == device_id)


def diff_after(tmp_path: Path, stack: str, edit, *extra: str) -> list[str]:
    before = tmp_path / "before"
    assert render(STACKS_DIR / f"Pulumi.{stack}.yaml", before, *extra, secrets_dir=tmp_path, stack=stack).returncode == 0
    changed = edited_stack(tmp_path, stack, edit)
    result = render(changed, tmp_path / "after", "--diff", str(before), *extra, secrets_dir=tmp_path, stack=stack)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.split("changes from", 1)[1].splitlines()[1:]


def test_diff_names_the_vm_that_restarts_for_a_memory_change(tmp_path):
    lines = diff_after(tmp_path, "dev", lambda c: device(c, "dev-edge-02").update(memory="8Gi"))
    assert "  device dev-edge-02: VM template changed -> VM restart" in lines
    assert not any("dev-edge-01" in line for line in lines), lines


def test_diff_names_a_config_apply_without_a_restart(tmp_path):
    lines = diff_after(tmp_path, "dev", lambda c: device(c, "dev-edge-01").update(configTomlExtra="auto_reprovisioning_mode = \"OnErrorOnly\"\n"))
    mine = [line for line in lines if "dev-edge-01" in line]
    assert any("config.toml" in line and "config apply" in line for line in mine), lines
    assert not any("restart" in line and "no restart" not in line for line in mine), lines
    assert not any("dev-edge-02" in line for line in lines), lines


def test_diff_names_the_pod_restart_of_a_dind_device(tmp_path):
    lines = diff_after(tmp_path, "dev-dind", lambda c: device(c, "dind-edge-02").update(memoryLimit="4Gi"))
    assert "  device dind-edge-02: StatefulSet pod template changed -> pod restart" in lines
    assert not any("dind-edge-01" in line for line in lines), lines


def test_diff_says_a_dind_config_change_replaces_the_pod(tmp_path):
    lines = diff_after(tmp_path, "dev-dind", lambda c: device(c, "dind-edge-01").update(
        configTomlExtra="auto_reprovisioning_mode = \"OnErrorOnly\"\n"))
    assert "  device dind-edge-01: config.toml changed -> config apply in the replaced pod" in lines
    assert "  device dind-edge-01: StatefulSet pod template changed -> pod restart" in lines
    assert not any("no restart" in line for line in lines), lines


def test_diff_names_a_deployment_whose_modules_change_and_an_added_device(tmp_path):
    def edit(config):
        config["kedge:deployments"][0]["modules"][1]["image"] = "contoso.azurecr.io/filter:2.2.0"
        config["kedge:devices"].append({"id": "dev-edge-03", "tags": {"site": "lab", "line": "3"}})

    lines = diff_after(tmp_path, "dev", edit)
    assert any(line.startswith("  deployment lab-base: content changed -> the configuration is replaced") for line in lines), lines
    assert "  device dev-edge-03: added" in lines
    assert not any(line.startswith("  device dev-edge-0") and "dev-edge-03" not in line for line in lines), lines


def test_no_change_renders_identically(tmp_path):
    lines = diff_after(tmp_path, "dev", lambda c: None)
    assert lines == []


def test_a_bad_setting_exits_1_with_the_checks_message_and_no_traceback(tmp_path):
    path = edited_stack(tmp_path, "dev", lambda c: c.update({"kedge:hubSku": "B1"}))
    result = render(path, tmp_path / "out")
    assert result.returncode == 1
    assert "kedge:hubSku: 'B1' is not allowed; allowed:" in result.stdout and "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra", [["--diff", "nowhere"], ["--secret", "novalue"], []])
def test_bad_arguments_exit_2(tmp_path, extra):
    args = ["--out", str(tmp_path / "out")] if extra else []
    result = subprocess.run([sys.executable, "-m", "kedge", "render", str(STACKS_DIR / "Pulumi.dev.yaml"), *args, *extra],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr


def test_a_folder_that_is_not_a_render_is_not_overwritten(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = render(STACKS_DIR / "Pulumi.dev-dind.yaml", out)
    assert result.returncode == 2 and "not an earlier render" in result.stderr
    assert (out / "notes.txt").read_text() == "keep me"


def test_encrypted_secrets_render_as_placeholders(tmp_path):
    def seal(config):
        config["kedge:siteRootCa"] = {"secure": "v1:AAAABBBB"}
        config["kedge:gatewayIdentityCert"] = {"secure": "v1:CCCCDDDD"}
        config["kedge:gatewayIdentityKey"] = {"secure": "v1:EEEEFFFF"}

    path = edited_stack(tmp_path, "site", seal)
    shutil.copy(STACKS_DIR.parent / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    result = render(path, tmp_path / "out", "--show-secrets")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "placeholders for kedge:gatewayIdentityCert, kedge:gatewayIdentityKey, kedge:siteRootCa" in result.stdout
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["placeholders"] == ["kedge:gatewayIdentityCert", "kedge:gatewayIdentityKey", "kedge:siteRootCa"]


def test_incomplete_hub_outputs_are_refused_as_a_usage_error(tmp_path):
    (tmp_path / "hub.json").write_text(json.dumps({"hubName": "contoso-fleet-hub"}))
    result = render(STACKS_DIR / "Pulumi.site.yaml", tmp_path / "out", "--hub-outputs", str(tmp_path / "hub.json"))
    assert result.returncode == 2 and "lacks hubResourceGroup" in result.stderr, result.stderr


def test_a_refusal_inside_the_program_exits_1_and_keeps_the_earlier_render(tmp_path, monkeypatch):
    """A component's own check stops the render as it stops preview: its message, exit 1, no
    traceback, and the earlier render in --out left as it was."""
    import io

    from kedge.render_stack import cli

    out = tmp_path / "out"
    (out).mkdir()
    earlier = json.dumps({"renderedBy": "kedge render", "resources": []})
    (out / "index.json").write_text(earlier)

    def refusing_run(*args, **kwargs):
        raise RuntimeError("While processing resource 'dind-edge-01'") from ValueError(
            "EdgeDindRuntime dind-edge-01: namespace: refused for the test")

    monkeypatch.setattr(cli, "run", refusing_run)
    printed = io.StringIO()
    status = cli.main([str(STACKS_DIR / "Pulumi.dev-dind.yaml"), "--out", str(out)], printed)
    assert status == 1 and "error: EdgeDindRuntime dind-edge-01: namespace: refused for the test" in printed.getvalue()
    assert "Traceback" not in printed.getvalue() and (out / "index.json").read_text() == earlier


@pytest.mark.parametrize("password", ["Sh0rt!", 'Acr"Pass\\word-EEEE5'])
def test_a_secret_value_is_redacted_whole_even_where_another_secret_was_found_in_it(password):
    """A deployment's content holds several credentials; each must go, however short and however JSON
    escapes it, or the part found would leave the rest of the content readable and the others in it."""
    from kedge.render_stack.layout import Redactor

    known = "a-long-workspace-shared-key-0123456789"
    content = json.dumps({"registryCredentials": {"acr": {"password": password}}, "env": {"key": {"value": known}}})
    environment = {"KEDGE_CONTENT": content}
    redactor = Redactor({known: "kedge:workspaceKey", password: "kedge:acrPassword"}, show=False)
    rendered = json.dumps(redactor.redact({"content": content, "environment": environment}, ["content", "environment"]))
    assert known not in rendered and password not in rendered and json.dumps(password)[1:-1] not in rendered
    assert "<redacted kedge:acrPassword>" in rendered  # the rest stays readable


def test_a_folder_with_some_other_index_json_is_never_replaced(tmp_path):
    """Only an index kedge render wrote marks a folder it may replace."""
    project = tmp_path / "webproj"
    (project / "src").mkdir(parents=True)
    (project / "index.json").write_text('{"name": "my-web-app", "resources": []}')
    (project / "src" / "app.js").write_text("console.log(1)")
    done = render(STACKS_DIR / "Pulumi.dev-dind.yaml", project)
    assert done.returncode == 2 and "is not an earlier render" in done.stderr, done.stdout + done.stderr
    assert (project / "src" / "app.js").exists()


def test_diff_says_a_storage_change_replaces_the_dind_statefulset(tmp_path):
    """volumeClaimTemplates is a field Pulumi replaces a StatefulSet for (pulumi-kubernetes diff.go)."""
    lines = diff_after(tmp_path, "dev-dind", lambda c: c.update({"kedge:dindDockerStorage": "40Gi"}))
    replaced = [line for line in lines if "volumeClaimTemplates changed -> the StatefulSet is replaced" in line]
    assert replaced and not any("changed outside its pod template" in line for line in lines), lines


def test_diff_says_preview_refuses_a_gateway_hostname_change(tmp_path):
    lines = diff_after(tmp_path, "plant", lambda c: device(c, "plant-gw")["gateway"].update(hostname="gw2.plant.local"),
                       "--hub-outputs", str(hub_outputs_file(tmp_path)))
    assert any("plant-gw: hostname" in line and "-> gw2.plant.local: refused at preview unless" in line for line in lines), lines
    assert lines[0].startswith("  refused at preview: kedge:devices[plant-gw].gateway: changes the device's hostname"), lines


def test_diff_with_the_hostname_change_accepted_refuses_nothing(tmp_path):
    def accept(config):
        device(config, "plant-gw")["gateway"].update(hostname="gw2.plant.local")
        device(config, "plant-gw")["acceptHostnameChange"] = True
    lines = diff_after(tmp_path, "plant", accept, "--hub-outputs", str(hub_outputs_file(tmp_path)))
    assert any("plant-gw: hostname" in line for line in lines) and not any("refused at preview:" in line for line in lines), lines


def test_diff_lets_a_gateway_hostname_follow_its_runtime(tmp_path):
    lines = diff_after(tmp_path, "plant", lambda c: device(c, "plant-gw").update(mode="vm"),
                       "--hub-outputs", str(hub_outputs_file(tmp_path)))
    assert not any("refused at preview" in line for line in lines), lines
    assert any("plant-gw: hostname plant-gw-gateway.kedge-dind.svc.cluster.local -> plant-gw-gateway.kedge-vms.svc.cluster.local "
               "with its runtime" in line for line in lines), lines


def test_diff_says_preview_refuses_a_new_region(tmp_path):
    lines = diff_after(tmp_path, "dev", lambda c: c.update({"kedge:location": "northeurope"}))
    assert lines[0].startswith("  refused at preview: kedge:location: changes from westeurope to northeurope"), lines


def test_diff_against_another_stacks_render_is_refused(tmp_path):
    """Its objects would all read as added or removed, and its settings record is not this stack's."""
    before = tmp_path / "dev-render"
    assert render(STACKS_DIR / "Pulumi.dev.yaml", before, secrets_dir=tmp_path, stack="dev").returncode == 0
    done = render(STACKS_DIR / "Pulumi.dev-dind.yaml", tmp_path / "after", "--diff", str(before), secrets_dir=tmp_path, stack="dev-dind")
    assert done.returncode == 2 and "is a render of stack dev (project kedge" in done.stderr, done.stdout + done.stderr
    assert "allowed: an earlier render of the same stack" in done.stderr and not (tmp_path / "after").exists()
