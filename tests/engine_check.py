"""A dynamic resource's check as the Pulumi engine has it run: the SDK's dynamic provider server
(`python -m pulumi.dynamic`, what the engine's pulumi-python provider starts) in a process of its
own, asked over gRPC with both input sets serialized as the engine sends them; it unpickles the
provider from the inputs' `__provider`, as it would for the engine."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from typing import Any, Iterator

import grpc
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import provider_pb2_grpc

URN = "urn:pulumi:stack::kedge::guarded::guarded"


def _serialized(properties: dict[str, Any]) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(properties, {}))
    finally:
        loop.close()


@contextlib.contextmanager
def _dynamic_provider() -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    server = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.dynamic"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]  # the server prints its port first
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        server.kill()
        server.communicate(timeout=30)


def engine_check(olds: dict[str, Any], news: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """(the failures' reasons, the inputs the check returned) for a resource last up with `olds`, now `news`."""
    with _dynamic_provider() as provider:
        response = provider.Check(proto.CheckRequest(urn=URN, olds=_serialized(olds), news=_serialized(news)), timeout=60)
    failures = [(failure.property, failure.reason) for failure in response.failures]
    assert all(prop == "" for prop, _ in failures), failures  # the engine then prints the reason alone, not the record
    return [reason for _, reason in failures], rpc.deserialize_properties(response.inputs)


def engine_delete(outputs: dict[str, Any]) -> None:
    """Deletes the resource as `pulumi destroy` does: with the provider its state holds (the program does not run)."""
    with _dynamic_provider() as provider:
        provider.Delete(proto.DeleteRequest(id="id", urn=URN, properties=_serialized(outputs)), timeout=60)
