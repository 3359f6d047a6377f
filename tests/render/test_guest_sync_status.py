"""The status line the guest's sync writes for kedge's sync check (issue #28 item 2): what it says
for each outcome, that its digest is the one kedge computes from the same share, where it goes (stdout
always; the serial console in a VM), and how often. Run for real on the sandbox (tests/guest_sandbox.py)."""

import json
import os

import pytest

from kedge.render.guest_sync import (
    BOOTSTRAP, CONVERGED, FAILING, HELD, REPORT_EVERY_SECONDS, REPORTED_FILE, SERIAL_CONSOLE, STATUS_MARK, SYNC_PROGRAM, VERSION_FILE,
    SyncStatus, bootstrap, latest_status, parse_status_line, share_digest, status_line, sync_program,
)
from tests.guest_sandbox import Guest
from tests.render.test_guest_sync import FILES, with_modules
from tests.validators import require_command


@pytest.fixture
def guest(tmp_path):
    require_command("sh", "dash")
    return Guest(tmp_path)


def statuses(output: str) -> list[SyncStatus]:
    found = [parse_status_line(line) for line in output.splitlines() if STATUS_MARK in line]
    assert None not in found, output  # every line the program writes parses
    return [status for status in found if status is not None]


def test_a_converged_run_reports_the_digest_kedge_computes_from_the_same_share(guest):
    guest.publish(FILES)
    result = guest.run()
    assert result.returncode == 0, result.stderr
    assert statuses(result.stdout) == [SyncStatus(CONVERGED, share_digest(FILES), "")]
    assert f"config={share_digest(FILES)}\n" in guest.status()
    changed = {**FILES, "config.toml": 'hostname = "edge-1"\n# changed\n'}
    guest.publish(changed)
    # A new snapshot is a new status at once, whatever the time since the last one.
    assert statuses(guest.run().stdout) == [SyncStatus(CONVERGED, share_digest(changed), "")]
    assert share_digest(changed) != share_digest(FILES)


def test_the_digest_follows_names_in_byte_order_and_each_files_content():
    files = {"b.pem": "1", "B.pem": "2", "a-b": "3", "a.b": "4"}
    assert share_digest(files) == share_digest(dict(reversed(list(files.items()))))
    assert share_digest({**files, "a.b": "5"}) != share_digest(files)
    assert share_digest({"x": "12", "y": "3"}) != share_digest({"x": "1", "y": "23"})  # no two shares alike by concatenation


def test_the_digest_the_program_computes_matches_for_names_that_sort_differently_by_locale(guest):
    files = {**FILES, "B-upper.pem": "CERT B\n", "a_under.pem": "CERT A\n", "a.pem": "CERT\n"}
    guest.publish(files)
    guest.env["LC_ALL"] = "en_US.UTF-8"  # where the locale exists, its collation would differ from byte order
    result = guest.run()
    assert statuses(result.stdout)[-1].config == share_digest(files), result.stderr


def test_the_same_status_is_not_repeated_within_its_interval_and_is_again_after_it(guest):
    guest.publish(FILES)
    assert len(statuses(guest.run().stdout)) == 1
    assert statuses(guest.run().stdout) == []  # nothing changed, reported moments ago
    reported = guest.path(REPORTED_FILE)
    at, line = reported.read_text().splitlines()
    reported.write_text(f"{int(at) - REPORT_EVERY_SECONDS}\n{line}\n")
    assert statuses(guest.run().stdout) == [SyncStatus(CONVERGED, share_digest(FILES), "")]
    reported.write_text("not a time\n")  # an unreadable record: reported again, never an arithmetic error
    again = guest.run()
    assert again.returncode == 0 and len(statuses(again.stdout)) == 1, again.stderr


def test_a_hostname_change_the_stack_has_not_accepted_is_reported_held_with_its_reason(guest):
    guest.publish(FILES)
    guest.run()
    with_modules(guest, "c1")
    gateway = {**FILES, "config.toml": 'hostname = "gw.plant.local"\n'}
    guest.publish(gateway)
    [status] = statuses(guest.run().stdout)
    assert (status.result, status.config) == (HELD, share_digest(gateway))
    assert status.reason.startswith("the hostname changes from edge-1 to gw.plant.local") and "acceptHostnameChange" in status.reason


def test_a_refused_downgrade_is_held_and_a_failing_install_is_failing_with_the_first_reason(guest):
    guest.publish(FILES)
    guest.run()
    older = {**FILES, VERSION_FILE: "1.5.0-1"}
    guest.publish(older)
    [held] = statuses(guest.run().stdout)
    assert held.result == HELD and "a downgrade, refused" in held.reason
    (guest.fake / "apt-fails").touch()
    newer = {**FILES, VERSION_FILE: "1.6.2-1"}
    guest.publish(newer)
    [failing] = statuses(guest.run().stdout)
    assert (failing.result, failing.config, failing.reason) == (FAILING, share_digest(newer), "installing aziot-edge 1.6.2-1 (retried on the next run)")


def test_a_reason_with_quotes_backslashes_and_control_characters_stays_one_json_line(guest):
    guest.names_repository('https://repo.example/"quoted"\\path\tx.deb')
    (guest.fake / "curl-failures").write_text("1")
    guest.publish(FILES)
    result = guest.run()
    [status] = statuses(result.stdout)
    assert status.result == FAILING
    assert 'https://repo.example/"quoted"\\pathx.deb' in status.reason  # the tab dropped, the rest as it was


def test_a_vm_guest_writes_the_line_to_its_serial_console_too(tmp_path):
    require_command("sh", "dash")
    require_command("timeout", "coreutils")
    guest = Guest(tmp_path)
    guest.install({BOOTSTRAP: bootstrap()})
    console = guest.path(SERIAL_CONSOLE)
    console.parent.mkdir(parents=True)
    console.write_text("[    1.0] earlier console output\n")
    guest.publish({**FILES, SYNC_PROGRAM: sync_program()})
    result = guest.tick()
    assert result.returncode == 0, result.stderr
    status, malformed = latest_status(console.read_text())
    assert status == SyncStatus(CONVERGED, share_digest({**FILES, SYNC_PROGRAM: sync_program()}), "") and malformed == 0
    assert status_line(status) in console.read_text().splitlines()  # the program writes the line as kedge formats it
    assert status_line(status) in result.stdout.splitlines()


def test_a_vm_guest_whose_console_cannot_be_written_still_reports_on_stdout_and_tries_again(tmp_path):
    require_command("sh", "dash")
    require_command("timeout", "coreutils")
    guest = Guest(tmp_path)
    guest.install({BOOTSTRAP: bootstrap()})  # and no console at all
    guest.publish({**FILES, SYNC_PROGRAM: sync_program()})
    first = guest.tick()
    assert first.returncode == 0 and len(statuses(first.stdout)) == 1
    assert "could not write the status" in first.stderr
    second = guest.tick()
    assert len(statuses(second.stdout)) == 1  # not recorded as reported: tried again on the next run


@pytest.mark.parametrize("line", [
    "kedge-sync {not json}",
    'kedge-sync {"result":"fine","config":"' + "0" * 64 + '","reason":""}',
    'kedge-sync {"result":"converged","config":"short","reason":""}',
    'kedge-sync {"result":"converged","config":"' + "0" * 64 + '","reason":7}',
    'kedge-sync ["converged"]',
    'kedge-sync {"result":"converged","config":"' + "0" * 32,  # cut by another writer
])
def test_a_malformed_status_is_no_status(line):
    assert parse_status_line(line) is None


def test_the_latest_well_formed_status_wins_and_prefixes_do_not_matter():
    old = status_line(SyncStatus(FAILING, "a" * 64, "installing"))
    new = status_line(SyncStatus(CONVERGED, "b" * 64))
    log = "\n".join([f"kedge-config-apply[212]: {old}", "[  12.5] some kernel line", f"{new}\r", "kedge-sync {\"result\":\"conv"])
    assert latest_status(log) == (SyncStatus(CONVERGED, "b" * 64, ""), 1)
    assert latest_status("no status here\n") == (None, 0)
    assert json.loads(new.split(" ", 1)[1]) == {"result": "converged", "config": "b" * 64, "reason": ""}
    assert os.linesep not in new
