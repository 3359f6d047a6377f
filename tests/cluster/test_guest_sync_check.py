"""The guest sync check (kedge.cluster.guest_sync_check) against a local fake of the Kubernetes API's
pod list and pod log (tests/fake_kube_api.py), under the faults a real cluster shows: a pod that is
gone, 500s, slow and trickling answers, no status line yet, a line for an older share, a held or
failing guest, malformed lines. Pauses between polls are skipped (FastForwardClock); what a request
really takes counts, and each test bounds its wall time."""

import json
import time

import pytest

from kedge.cluster import guest_sync_check
from kedge.render.guest_sync import CONVERGED, FAILING, HELD, SyncStatus, status_line
from tests.fake_clock import FastForwardClock, run_helper_in_process
from tests.fake_kube_api import FakeKubeApi, dind_pod, launcher_pod

WANTED = "a" * 64
OLDER = "b" * 64
POLL = 15.0


@pytest.fixture
def api():
    server = FakeKubeApi()
    yield server
    server.close()


def line(result, config=WANTED, reason=""):
    return status_line(SyncStatus(result, config, reason))


def console(*lines):
    """A serial console as KubeVirt's virt-tail streams it: the guest's CR LF line ends, other output between."""
    return "".join(f"{text}\r\n" for text in ("[    0.000000] Linux version 6.8.0", "Ubuntu 24.04 LTS edge-1 ttyS0", *lines))


def devices(**configs):
    return {device: {"namespace": "kedge-dind" if device.startswith("dind") else "kedge-vms", "name": device,
                     "mode": "dind" if device.startswith("dind") else "vm", "config": config}
            for device, config in configs.items()}


def run(api, operation="update", previous=None, clock=None, deadline=120, skip=(), within=5.0, **configs):
    """The helper in this process; every run here ends within `within` seconds of wall time (pauses
    are skipped, requests are real)."""
    clock = clock or FastForwardClock()
    env = {"KEDGE_SYNC_DEVICES": json.dumps(devices(**(configs or {"edge-1": WANTED}))), "KEDGE_SYNC_SKIP": json.dumps(list(skip)),
           "KEDGE_KUBECONFIG": api.kubeconfig(), "KEDGE_DEADLINE_SECONDS": str(deadline), "KEDGE_SYNC_POLL_SECONDS": str(POLL)}
    if previous is not None:
        env["PULUMI_COMMAND_STDOUT"] = json.dumps(previous)
    started = time.monotonic()
    result = run_helper_in_process(clock, guest_sync_check.__name__, operation, env)
    result.seconds = time.monotonic() - started
    assert "Traceback" not in result.stderr, result.stderr
    assert result.seconds < within, (result.seconds, result.stderr)
    return result


def vm(api, device="edge-1", log=None, **options):
    api.pods.append(launcher_pod(device, **options))
    if log is not None:
        api.logs[("kedge-vms", f"virt-launcher-{device}-abcde", "guest-console-log")] = log


def state(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_converged_guest_on_the_wanted_config_passes_on_the_first_read(api):
    vm(api, log=console(line(FAILING, OLDER, "installing"), line(CONVERGED)))
    result = run(api)
    assert result.seconds < 5
    assert state(result)["sync"] == {"edge-1": {"result": CONVERGED, "config": WANTED, "reason": ""}}
    [(path, query)] = api.log_reads()
    assert path == "/api/v1/namespaces/kedge-vms/pods/virt-launcher-edge-1-abcde/log"
    assert query == {"container": "guest-console-log", "tailLines": str(guest_sync_check.TAIL_LINES)}  # no limitBytes: it cuts the newest
    lists = [query for path, query in api.requests if path.endswith("/pods")]
    assert lists == [{"labelSelector": "kedge.io/device,kubevirt.io=virt-launcher"}]


def test_create_only_records_and_reads_nothing(api):
    result = run(api, operation="create")
    assert state(result) == {"devices": {"edge-1": WANTED}, "sync": {}} and api.requests == []
    assert run(api, operation="delete").returncode == 0 and api.requests == []


def test_a_device_seen_converged_on_the_same_config_is_not_read_again_and_a_changed_one_is(api):
    converged = {"devices": {"edge-1": OLDER}, "sync": {"edge-1": {"result": CONVERGED, "config": WANTED, "reason": ""}}}
    assert state(run(api, previous=converged))["sync"]["edge-1"]["result"] == CONVERGED and api.requests == []
    vm(api, log=console(line(CONVERGED, "c" * 64)))
    result = run(api, previous=converged, deadline=60, **{"edge-1": "c" * 64})
    assert state(result)["sync"]["edge-1"]["config"] == "c" * 64 and len(api.log_reads()) == 1


def test_a_line_for_an_older_share_waits_until_the_guest_reports_the_wanted_one(api):
    vm(api, log=lambda reads: console(line(CONVERGED, OLDER)) if reads < 3 else console(line(CONVERGED, OLDER), line(CONVERGED)))
    clock = FastForwardClock()
    result = run(api, clock=clock)
    assert result.seconds < 5 and state(result)["sync"]["edge-1"]["result"] == CONVERGED
    assert clock.slept == [POLL] * 3 and len(api.log_reads()) == 4
    assert "last reported converged on config bbbbbbbbbbbb, not yet on the wanted aaaaaaaaaaaa" in result.stderr


def test_a_held_change_stops_the_wave_at_once_with_the_device_and_the_guests_reason(api):
    reason = "the hostname changes from edge-1 to gw.plant.local, which IoT Edge refuses while module containers exist"
    vm(api, log=console(line(CONVERGED, OLDER), line(HELD, WANTED, reason)))
    clock = FastForwardClock()
    result = run(api, clock=clock)
    assert result.returncode == 1 and result.stdout == "" and result.seconds < 5
    assert clock.slept == [] and len(api.log_reads()) == 1  # no wait for what only a stack change ends
    assert f"edge-1's guest holds its change: {reason}" in result.stderr and "devices after this wave are untouched" in result.stderr


def test_a_held_status_for_an_older_share_is_not_the_answer_for_the_new_one(api):
    vm(api, log=lambda reads: console(line(HELD, OLDER, "downgrade")) if reads == 0 else console(line(CONVERGED)))
    result = run(api)
    assert state(result)["sync"]["edge-1"]["result"] == CONVERGED


def test_a_guest_that_keeps_failing_fails_the_wave_at_the_deadline_with_its_reason(api):
    vm(api, log=console(line(FAILING, WANTED, "installing aziot-edge 1.6.2-1 (retried on the next run)")))
    clock = FastForwardClock()
    result = run(api, clock=clock, deadline=120)
    assert result.returncode == 1 and result.seconds < 5
    assert "rollout stopped: edge-1: its guest fails to apply the wanted config: installing aziot-edge 1.6.2-1" in result.stderr
    assert "within 120 s (kedge:rolloutTimeoutSeconds)" in result.stderr and "rolloutSkipDevices: [edge-1]" in result.stderr
    assert sum(clock.slept) <= 120


def test_a_failing_guest_that_recovers_before_the_deadline_passes(api):
    vm(api, log=lambda reads: console(line(FAILING, WANTED, "apt")) if reads < 2 else console(line(FAILING, WANTED, "apt"), line(CONVERGED)))
    assert state(run(api))["sync"]["edge-1"] == {"result": CONVERGED, "config": WANTED, "reason": ""}


def test_no_status_line_within_the_deadline_fails_with_a_clear_message(api):
    vm(api, log=console())
    result = run(api, deadline=60)
    assert result.returncode == 1 and result.seconds < 5
    assert ("edge-1: its guest has written no kedge-sync status line yet (newest 2000 lines of "
            "virt-launcher-edge-1-abcde/guest-console-log)") in result.stderr


def test_only_malformed_status_lines_are_no_status_and_say_so(api):
    vm(api, log=console('kedge-sync {"result":"conv', "kedge-sync {oops}"))
    result = run(api, deadline=60)
    assert result.returncode == 1 and "no kedge-sync status line yet" in result.stderr
    assert "(2 newer kedge-sync lines could not be read)" in result.stderr


def test_a_malformed_newest_line_does_not_hide_a_wellformed_one_before_it(api):
    vm(api, log=console(line(CONVERGED), 'kedge-sync {"result":"conv[  99.1] kernel cut in'))
    assert state(run(api))["sync"]["edge-1"]["result"] == CONVERGED


def test_a_pod_that_is_gone_or_not_started_yet_is_waited_for(api, monkeypatch):
    vm(api, log=console(line(CONVERGED)))
    launcher = api.pods.pop()
    clock = FastForwardClock()
    # 1st poll: no pod at all; 2nd: the pod is gone between list and read (404); 3rd: there and readable.
    api.faults = [("/log", 404)]
    original = guest_sync_check.Reader.observe
    polls = []

    def observe(self, device):
        polls.append(device.device_id)
        if len(polls) == 2:
            api.pods.append(launcher)
        return original(self, device)

    monkeypatch.setattr(guest_sync_check.Reader, "observe", observe)
    result = run(api, clock=clock)
    assert state(result)["sync"]["edge-1"]["result"] == CONVERGED
    assert "no running pod in kedge-vms (label kedge.io/device=edge-1)" in result.stderr
    assert "could not be read: HTTP 404" in result.stderr and len(clock.slept) == 2


def test_server_errors_on_the_list_and_the_log_are_read_again_at_the_next_poll(api):
    vm(api, log=console(line(CONVERGED)))
    api.faults = [("/pods", 500), ("/log", 500), ("/log", 503)]
    clock = FastForwardClock()
    result = run(api, clock=clock)
    assert state(result)["sync"]["edge-1"]["result"] == CONVERGED and len(clock.slept) == 3
    assert "pods could not be listed: HTTP 500" in result.stderr


def test_a_refused_read_stops_at_once_naming_the_permission(api):
    vm(api, log=console(line(CONVERGED)))
    api.faults = [("/log", 403)]
    result = run(api)
    assert result.returncode == 1 and "HTTP 403" in result.stderr and "`get` on pods/log" in result.stderr


def test_a_trickling_answer_cannot_hold_the_check_past_its_deadline(api):
    vm(api, log=console(line(CONVERGED)))
    api.trickle = True
    result = run(api, deadline=3, within=6)
    assert result.returncode == 1
    assert "within 3 s" in result.stderr


def test_slow_answers_are_bounded_by_the_same_deadline(api):
    vm(api, log=console(line(CONVERGED)))
    api.delay = 2.0
    result = run(api, deadline=3, within=6)
    assert result.returncode == 1


def test_a_launcher_without_the_console_log_container_names_the_restart(api):
    vm(api, console_log=False)
    result = run(api, deadline=60)
    assert result.returncode == 1 and "has no guest-console-log container" in result.stderr
    assert "`virtctl restart edge-1 -n kedge-vms`" in result.stderr and api.log_reads() == []


def test_of_two_launcher_pods_the_newest_running_one_is_read(api):
    vm(api, log=console(line(CONVERGED, OLDER)), created="2026-12-06T07:00:00Z")
    api.pods.append({**launcher_pod("edge-1", created="2026-12-06T07:30:00Z"),
                     "metadata": {**launcher_pod("edge-1")["metadata"], "name": "virt-launcher-edge-1-fghij",
                                  "creationTimestamp": "2026-12-06T07:30:00Z"}})
    api.pods.append(launcher_pod("edge-1", phase="Pending", created="2026-12-06T07:40:00Z") | {
        "metadata": {**launcher_pod("edge-1")["metadata"], "name": "virt-launcher-edge-1-zzzzz", "creationTimestamp": "2026-12-06T07:40:00Z"}})
    api.logs[("kedge-vms", "virt-launcher-edge-1-fghij", "guest-console-log")] = console(line(CONVERGED))
    assert state(run(api))["sync"]["edge-1"]["result"] == CONVERGED
    assert {path.split("/")[-2] for path, _ in api.log_reads()} == {"virt-launcher-edge-1-fghij"}


def test_a_dind_device_is_read_from_its_pods_console_behind_journalds_prefix(api):
    api.pods.append(dind_pod("dind-1"))
    api.logs[("kedge-dind", "dind-1-0", "iotedge")] = (
        "systemd[1]: Starting kedge-config-apply.service\n"
        f"kedge-config-apply[212]: {line(CONVERGED)}\n"
        "aziot-edged[300]: 2026-12-06T07:01:00Z [INFO] - Starting Azure IoT Edge Daemon\n")
    result = run(api, **{"dind-1": WANTED})
    assert state(result)["sync"]["dind-1"]["result"] == CONVERGED
    [(path, query)] = api.log_reads()
    assert path.endswith("/namespaces/kedge-dind/pods/dind-1-0/log") and query["container"] == "iotedge"


def test_a_wave_reads_each_namespace_once_a_poll_and_skipped_devices_not_at_all(api):
    for name in ("edge-1", "edge-2", "edge-3"):
        vm(api, device=name, log=console(line(CONVERGED)))
    result = run(api, skip=["edge-3"], **{"edge-1": WANTED, "edge-2": WANTED, "edge-3": WANTED})
    assert sorted(state(result)["sync"]) == ["edge-1", "edge-2"]
    assert len([p for p, _ in api.requests if p.endswith("/pods")]) == 1 and len(api.log_reads()) == 2


def test_the_deadline_message_names_every_waiting_device(api):
    for name in ("edge-1", "edge-2"):
        vm(api, device=name, log=console())
    result = run(api, deadline=60, **{"edge-1": WANTED, "edge-2": WANTED})
    assert result.returncode == 1 and "rollout stopped: edge-1: its guest" in result.stderr and "; edge-2: its guest" in result.stderr


@pytest.mark.parametrize("recorded", ["{not json", "[1]"])
def test_an_unreadable_record_stops_naming_the_check_and_the_way_out(api, recorded):
    clock = FastForwardClock()
    env = {"KEDGE_SYNC_DEVICES": json.dumps(devices(**{"edge-1": WANTED})), "KEDGE_KUBECONFIG": api.kubeconfig(),
           "PULUMI_COMMAND_STDOUT": recorded}
    result = run_helper_in_process(clock, guest_sync_check.__name__, "update", env)
    assert result.returncode == 1 and "Traceback" not in result.stderr and api.requests == []
    assert "the guest sync check of edge-1" in result.stderr and "pulumi state edit" in result.stderr


def test_a_kubeconfig_without_the_named_context_fails_with_a_message(api):
    env = {"KEDGE_SYNC_DEVICES": json.dumps(devices(**{"edge-1": WANTED})), "KEDGE_KUBECONFIG": api.kubeconfig(),
           "KEDGE_KUBE_CONTEXT": "elsewhere"}
    result = run_helper_in_process(FastForwardClock(), guest_sync_check.__name__, "update", env)
    assert result.returncode == 1 and "Traceback" not in result.stderr and "no context named 'elsewhere'" in result.stderr
