"""Transport faults and echoed bodies against the identity helper (issue #13, item 3 in part).

Each fault is answered by the local fake hub before it handles the request, so nothing changed on
the hub and a retry must converge. Before this change the helper retried only URLError, timeouts
and connection errors: a malformed status line (BadStatusLine), a truncated body (IncompleteRead),
a 200 gateway page (JSONDecodeError) and an error body that breaks off ended in a traceback, and a
400 echoing an update's PUT body put the device's keys into stderr, which Pulumi keeps in state.
"""

import json

import pytest

from kedge.azure.registry.client import redact
from tests.azure.test_device_registry import created, run_helper


@pytest.mark.parametrize("method, path", [("POST", "/devices"), ("GET", "/twins/edge-1")])
@pytest.mark.parametrize("kind", ["reset", "garbage", "truncated", "html", "broken-error"])
def test_a_create_converges_through_a_transport_fault(hub, method, path, kind):
    hub.break_next(method, kind)
    result = run_helper(hub, "create", {"deviceId": "edge-1"})
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert f"{method} {path}: HTTP 503 (" in result.stderr  # the retry says what went wrong
    state = json.loads(result.stdout)
    assert state["created"] is True and "edge-1" in hub.devices
    assert state["primaryKey"] == hub.devices["edge-1"]["authentication"]["symmetricKey"]["primaryKey"]


def test_an_error_body_echoing_an_update_keeps_the_keys_out_of_stderr(hub):
    state = created(hub)
    keys = hub.devices["edge-1"]["authentication"]["symmetricKey"]
    hub.break_next("PUT", "echo")
    result = run_helper(hub, "update", {"deviceId": "edge-1", "status": "disabled"}, previous=state)
    assert result.returncode == 1 and "Bad request" in result.stderr and "[redacted]" in result.stderr
    for key in keys.values():  # run_helper also checks every key the hub holds
        assert key not in result.stderr


@pytest.mark.parametrize("text, kept", [
    ("HostName=h.azure-devices.net;DeviceId=edge-1;SharedAccessKey=c2VjcmV0", "DeviceId=edge-1;SharedAccessKey=[redacted]"),
    (json.dumps({"symmetricKey": {"primaryKey": "abc", "secondaryKey": "def"}}), '"primaryKey": "[redacted]"'),
    ("Authorization: Bearer eyJ0eXAiOiJKV1QifQ.e30.sig", "Bearer [redacted]"),
    ("sr=hub&sig=AbC%2Bdef%3D&se=1700000000", "sig=[redacted]&se=1700000000"),
    ("key " + "QUJD" * 11 + " in DeviceNotFound edge-1", "key [redacted] in DeviceNotFound edge-1"),
])
def test_redaction_removes_key_shaped_values_and_keeps_the_rest(text, kept):
    assert kept in redact(text)
