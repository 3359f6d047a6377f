"""The registry helpers under the faults of issue #28 ("Helpers under faults"), on the local fake hub.

Each scenario ends one of two ways: the helper converges in this run, or it stops with a message
naming the resource and what to do, never with a traceback. Before this change: unreadable
previous state ended in a traceback on every run; a version guard with no record let a downgrade
through; a gate passed a device healthy on one read of two; adoption took over another live
stack's identity; a destroy after its hub was deleted retried for the whole deadline and failed;
`Retry-After: 0` retried with no pause; a device deleted before its tag write and a configuration
delete answered 412 each needed a second `up`; a nested child kept its dead parent's scope.
"""

import json
import socket
import urllib.parse
from unittest import mock

import pytest

from kedge.azure.registry import rollout_gate
from kedge.azure.registry.device import OWNER_TAG, RESOURCE_TAG
from tests.azure.test_device_registry import OWNER, created, run_helper
from tests.azure.test_rollout_gate import run as run_gate
from tests.fake_clock import run_helper_in_process
from tests.fake_iothub import sas_environment

OTHER_STACK = "contoso/kedge/plant/3f9a0c1d2e4b5a69"
WAY_OUT = "pulumi state edit"


CONFIGURATION = {"id": "lab-base", "owner": OWNER, "labels": {}, "targetCondition": "tags.site='lab'", "priority": 10}


def run_configuration_helper(hub, operation, **env):
    """The deployment helper for CONFIGURATION against `hub`; `env` adds to (or overrides) its environment."""
    environment = {**sas_environment(hub), "KEDGE_CONFIGURATION": json.dumps(CONFIGURATION),
                   "KEDGE_CONTENT": json.dumps({"$edgeAgent": {"properties.desired": {}}}), **env}
    return run_helper_in_process(hub.clock, "kedge.azure.registry.configuration", operation, environment)


def no_traceback(result):
    assert "Traceback" not in result.stderr, result.stderr
    return result


# --- 8. Retry-After: 0 -----------------------------------------------------------------------------

def test_retry_after_zero_still_waits_the_base_backoff(hub):
    hub.retry_after = "0"
    hub.fail_next("POST", 429, 429, 429)
    created(hub)
    assert len(hub.clock.slept) == 3 and min(hub.clock.slept) >= 0.5
