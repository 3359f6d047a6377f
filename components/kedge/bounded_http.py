"""One HTTP exchange that cannot outlast its time limit, and what a failed one says about the host.

Layer-neutral, like clock.py: the registry client and the VM restart helper both send requests
this way. A socket timeout bounds each read, not the answer: a server trickling one byte a second
would hold a call for as long as it likes. Here a watchdog closes the socket when the call's time
is up, so connect, send, status line, headers and body together never take longer than `timeout`.
"""

from __future__ import annotations

import errno
import http.client
import socket
import threading
from typing import Optional


class NoAnswer(Exception):
    """The exchange failed in transit; `reason` says how, `absent` whether the host said it is not there."""

    def __init__(self, reason: str, absent: bool = False):
        super().__init__(reason)
        self.reason, self.absent = reason, absent


def host_absent(error: BaseException) -> bool:
    """Whether a transport failure is an answer that nothing is there, rather than no answer.

    The rule (used to let a destroy finish once a hub is deleted, never to skip work on create or
    update): the resolver answering that the name does not exist (EAI_NONAME, EAI_NODATA: IoT Hub
    takes <hub>.azure-devices.net out of DNS when the hub is deleted), or the host refusing the
    connection (ECONNREFUSED: something answered, and nothing listens), is an answer about the host.
    A resolver that cannot be reached (EAI_AGAIN: our own DNS or network is down), a timeout, a
    reset, a TLS failure or a 5xx says nothing about whether the hub exists: it is retried until the
    deadline as before. One absent answer can still be a blip, so the caller acts only on several
    in a row (RegistryClient.gone_after).
    """
    if isinstance(error, socket.gaierror):
        return error.errno in {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
    return isinstance(error, ConnectionRefusedError) or getattr(error, "errno", None) == errno.ECONNREFUSED


def exchange(connection: http.client.HTTPConnection, method: str, target: str, body: Optional[bytes], headers: dict,
             timeout: float) -> tuple[int, bytes, dict]:
    """Sends one request on `connection` (made with `timeout` as its socket timeout) and reads the
    whole answer within `timeout`, or raises NoAnswer. The connection is closed afterwards."""
    sockets: list[socket.socket] = []
    expired = threading.Event()  # set by the watchdog before it closes anything
    watchdog = threading.Timer(timeout, _shut, args=(connection, sockets, expired))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(method, target, body=body, headers=headers)
        if connection.sock is not None:  # kept: the connection lets go of it when the answer says close
            sockets.append(connection.sock)
        response = connection.getresponse()
        raw = response.read()
        return response.status, raw, dict(response.headers)
    # Everything that can go wrong in transit: refused or reset connections, timeouts, a malformed
    # status line, a truncated body, the watchdog's close.
    except (http.client.HTTPException, OSError, ValueError) as error:
        # The socket's own timeout equals the call's, so either one firing means the same thing,
        # whichever of the two threads got there first.
        if expired.is_set() or isinstance(error, TimeoutError):
            raise NoAnswer(f"no complete answer within {timeout:.0f} s") from None
        raise NoAnswer(f"{type(error).__name__}: {getattr(error, 'reason', error)}", absent=host_absent(error)) from None
    finally:
        watchdog.cancel()
        connection.close()


def _shut(connection: http.client.HTTPConnection, sockets: list, expired: threading.Event) -> None:
    expired.set()
    for sock in [*sockets, connection.sock]:
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
