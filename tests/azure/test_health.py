"""`kedge health` against the local fake hub: the gates' reads, one line per device, the exit status."""

import io
import json

import pytest
import yaml

from kedge.health import main
from tests.fake_iothub import sas_environment


def health(hub, *argv):
    out = io.StringIO()
    return main(["--hub", hub.hostname, *argv], out, sas_environment(hub)), out.getvalue()


def test_every_device_healthy_exits_0_with_one_line_each(hub):
    for device in ("edge-1", "edge-2"):
        hub.add_device(device)
        hub.report(device, "1.6.0")
    status, out = health(hub, "edge-1", "edge-2")
    assert status == 0
    assert out.splitlines() == [
        "edge-1: healthy (connectionState Connected, IoT Edge 1.6.0, edgeAgent running, edgeHub running)",
        "edge-2: healthy (connectionState Connected, IoT Edge 1.6.0, edgeAgent running, edgeHub running)",
    ]


@pytest.mark.parametrize("report, shown", [
    (dict(version="1.6.0", edge_hub="failed"), "edgeHub failed"),
    (dict(version="1.6.0", connected=False), "connectionState Disconnected"),
    (None, "IoT Edge unreported"),
])
def test_one_unhealthy_device_makes_the_exit_status_1_and_says_why(hub, report, shown):
    hub.add_device("edge-1")
    hub.add_device("edge-2")
    hub.report("edge-1", "1.6.0")
    if report:
        hub.report("edge-2", **report)
    status, out = health(hub, "edge-1", "edge-2")
    assert status == 1
    assert out.splitlines()[0].startswith("edge-1: healthy") and out.splitlines()[1].startswith("edge-2: UNHEALTHY (")
    assert shown in out.splitlines()[1]


def test_a_device_the_hub_does_not_know_is_unhealthy_not_a_traceback(hub):
    status, out = health(hub, "ghost")
    assert status == 1 and out.startswith("ghost: UNHEALTHY (") and "not in the hub's registry" in out


def test_with_a_stack_file_a_device_is_healthy_only_at_its_pinned_version_and_json_says_so(hub, tmp_path):
    stack = tmp_path / "Pulumi.site.yaml"
    stack.write_text(yaml.safe_dump({"config": {"kedge:aziotEdgeVersion": "1.6.2-1",
                                                "kedge:devices": [{"id": "edge-1"}, {"id": "edge-2", "aziotEdgeVersion": "1.6.0-1"}]}}))
    for device in ("edge-1", "edge-2"):
        hub.add_device(device)
        hub.report(device, "1.6.0")
    status, out = health(hub, "--stack", str(stack), "--json")
    report = json.loads(out)
    assert status == 1
    assert report["edge-1"]["healthy"] is False and report["edge-1"]["wantedVersion"] == "1.6.2"
    assert report["edge-2"] == {"connectionState": "Connected", "runtimeVersion": "1.6.0", "edgeAgent": "running",
                                "edgeHub": "running", "healthy": True, "wantedVersion": "1.6.0"}


def test_bad_arguments_exit_2(hub, tmp_path):
    for argv in (["--hub", hub.hostname], ["edge-1"], ["--hub", hub.hostname, "--stack", str(tmp_path / "missing.yaml")]):
        with pytest.raises(SystemExit) as stopped:
            main(argv, io.StringIO(), sas_environment(hub))
        assert stopped.value.code == 2
