"""The escape corpus in the confined container, judged by the node guest's state (lab/guest/corpus*.py, lab/escapes.py)."""

import json

from lab.dind import step
from lab.escapes import CAVEATS, EXPECTED_OPEN_HOST_USERS, NOT_APPLICABLE, table, verdict
from tests.lab.conftest import KNOWN_BAD_ROUTES


def show(entry, userns):
    for row in table(entry["corpus"], userns):
        print(f"{row['attempt']:48} {'ESCAPED' if row['escaped'] else 'denied':8} control={row['control']} by={row['denied_by']}")


def test_the_corpus_has_at_least_25_attempts(lab_run):
    corpus = step(lab_run, "corpus-host")["corpus"]
    assert len(set(corpus) - set(CAVEATS) - set(NOT_APPLICABLE)) >= 25


def test_the_containers_are_confined_as_emitted(lab_run):
    for label in ("corpus-host", "corpus-userns"):
        record = step(lab_run, label)["corpus"]["io_uring"]["confined"]
        assert record["attr"] == "kedge-dind (enforce)", record


def test_attribution_with_a_user_namespace(lab_run):
    """Which layer stops what once the pod has a user namespace: the unconfined control in the same user namespace says."""
    entry = step(lab_run, "corpus-userns")
    rows = {row["attempt"]: row["denied_by"] for row in table(entry["corpus"], True)}
    print(json.dumps(rows, indent=1))
    assert rows["proc_mount_bind_kernel_core_pattern"] == "user namespace"


def test_every_attempt_succeeds_in_an_unconfined_container(lab_run):
    """Positive controls: each attempt works on this kernel when nothing confines it (host user namespace)."""
    entry = step(lab_run, "corpus-host")
    show(entry, False)
    failed = verdict(entry["corpus"], userns=False)["control_failed"]
    assert failed == [], {name: entry["corpus"][name]["control"]["steps"] for name in failed}
    for name in NOT_APPLICABLE:
        assert not entry["corpus"][name]["control"]["escaped"], f"{name} works here now: drop it from NOT_APPLICABLE"


def test_nothing_escapes_with_a_user_namespace(lab_run):
    entry = step(lab_run, "corpus-userns")
    show(entry, True)
    ran = [name for name, records in entry["corpus"].items() if (records["confined"].get("attr") or "").startswith("kedge-dind")]
    assert sorted(ran) == sorted(entry["corpus"]), "every attempt ran in the confined container"
    assert verdict(entry["corpus"], userns=True)["unexpected"] == []


def test_with_the_host_user_namespace_exactly_the_known_routes_are_open(lab_run):
    """Expected-to-succeed markers (issue #27): a route that stops succeeding fails here too, so the list shrinks with the fix."""
    entry = step(lab_run, "corpus-host")
    show(entry, False)
    result = verdict(entry["corpus"], userns=False)
    assert result["unexpected"] == [], {n: entry["corpus"][n]["confined"] for n in result["unexpected"]}
    assert result["stopped"] == [], f"no longer open, remove from EXPECTED_OPEN_HOST_USERS: {result['stopped']}"
    assert set(EXPECTED_OPEN_HOST_USERS) <= set(entry["corpus"])


def test_the_first_dind_profile_fails_the_corpus(lab_run):
    """A known-bad profile (git history's first kedge-dind.apparmor, a bare `mount,`) must make the corpus fail."""
    entry = step(lab_run, "known-bad-host")
    show(entry, False)
    result = verdict(entry["corpus"], userns=False, controls=step(lab_run, "corpus-host")["corpus"])
    print(json.dumps(result))
    assert set(result["unexpected"]) == set(KNOWN_BAD_ROUTES), "the corpus did not catch every route the first profile left open"


def test_setuid_files_on_volumes_are_recorded(lab_run):
    """The idmapped-volume caveat of issue #27, as the lab saw it (recorded, not an escape)."""
    for label in ("corpus-host", "corpus-userns"):
        record = step(lab_run, label)["corpus"]["setuid_on_volume"]["confined"]
        print(label, record["evidence"])
        assert "on_node_disk" in record["evidence"]
