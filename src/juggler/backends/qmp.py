"""One QMP connection to one QEMU process, with an explicit state machine.

Why a wrapper around ``qemu.qmp.QMPClient``: the backend must survive a VM
that dies, hangs or refuses, without one VM's trouble reaching the others or
the manager. So every call here is bounded by a time-out, every foreign
exception (``OSError``, ``asyncio.TimeoutError``, ``qemu.qmp.QMPError``) is
converted at this edge into juggler's tree with the cause kept, and a
connection that failed is torn down and returns to ``IDLE``, from where the
next observation simply reconnects::

    IDLE ──connect()──► CONNECTING ──greeting + capabilities──► RUNNING
     ▲                      │ failure                             │ execute() fails to
     │                      ▼                                     │ reach QEMU, or close()
     └──────────────── DISCONNECTING ◄────────────────────────────┘

An error *reply* from QEMU (``ExecuteError``) leaves the connection RUNNING:
QEMU answered, only the command failed (:class:`~juggler.errors.CommandError`).
A time-out or a broken socket means the channel is unusable
(:class:`~juggler.errors.ConnectError`), so it disconnects.

The QEMU process id comes from the socket's peer credentials (``SO_PEERCRED``),
so production VMs need not be given a pid file.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from qemu.qmp import ExecInterruptedError, ExecuteError, QMPClient, QMPError
from qemu.qmp import Runstate as QmpRunstate

from juggler.errors import CommandError, ConnectError, StateError

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class Runstate(enum.Enum):
    """Where a :class:`QmpChannel` is in its life."""

    #: not connected (never, or after a failure or close)
    IDLE = "idle"
    #: connecting and negotiating capabilities
    CONNECTING = "connecting"
    #: connected: commands may be sent
    RUNNING = "running"
    #: tearing the connection down
    DISCONNECTING = "disconnecting"


def require(
    state: Runstate,
) -> Callable[
    [Callable[Concatenate[QmpChannel, P], Awaitable[R]]],
    Callable[Concatenate[QmpChannel, P], Awaitable[R]],
]:
    """Refuse a channel method unless the channel is in ``state``.

    :raise StateError: naming the VM, the method, the state it is in and the one required.
    """

    def decorator(
        method: Callable[Concatenate[QmpChannel, P], Awaitable[R]],
    ) -> Callable[Concatenate[QmpChannel, P], Awaitable[R]]:
        async def wrapper(channel: QmpChannel, /, *args: P.args, **kwargs: P.kwargs) -> R:
            if channel.runstate is not state:
                raise StateError(
                    f"{method.__name__}() needs the QMP channel {state.value}, "
                    f"but it is {channel.runstate.value}",
                    vm=channel.name,
                )
            return await method(channel, *args, **kwargs)

        # update_wrapper, not @wraps: its _Wrapped return type would hide the signature
        functools.update_wrapper(wrapper, method)
        return wrapper

    return decorator


class QmpChannel:
    """The QMP connection to one VM.

    :param name: the VM's name (used in every error).
    :param path: the QMP unix socket (``-qmp unix:<path>,server=on,wait=off``).
    :param timeout_s: how long a connect or a command may take.
    """

    def __init__(self, name: str, path: Path, timeout_s: float = 2.0) -> None:
        self.name = name
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._client: QMPClient | None = None
        #: where the channel is in its life
        self.runstate = Runstate.IDLE
        #: the QEMU process id, known once connected
        self.peer_pid: int | None = None

    @require(Runstate.IDLE)
    async def connect(self) -> None:
        """Connect and negotiate; on any failure the channel is back to IDLE.

        :raise ConnectError: When the socket is absent, refuses, or QEMU does not
            greet within the time-out (another client may hold the socket).
        """
        self.runstate = Runstate.CONNECTING
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        client = QMPClient(self.name)
        try:
            loop = asyncio.get_running_loop()
            await asyncio.wait_for(loop.sock_connect(sock, str(self.path)), self.timeout_s)
            self.peer_pid = _peer_pid(sock)
            await asyncio.wait_for(client.connect(sock), self.timeout_s)
        except (OSError, QMPError, TimeoutError) as err:
            sock.close()
            self._client = client
            await self._teardown()
            reason = f"cannot connect to QMP socket {self.path}: {_why(err)}"
            raise ConnectError(reason, self.name) from err
        self._client = client
        self.runstate = Runstate.RUNNING
        log.debug("%s: QMP connected (pid %s)", self.name, self.peer_pid)

    @require(Runstate.RUNNING)
    async def execute(self, command: str, arguments: Mapping[str, object] | None = None) -> Any:
        """Send one command and return QEMU's answer.

        :raise CommandError: When QEMU answers with an error (the channel stays up);
            the message holds the QMP error class.
        :raise ConnectError: When QEMU does not answer in time or the connection
            breaks; the channel disconnects.
        """
        assert self._client is not None
        if self._client.runstate is not QmpRunstate.RUNNING:
            # the reader met end-of-file: QEMU hung up since the last command
            await self._teardown()
            raise ConnectError(
                f"{command}: QMP connection lost: QEMU closed the connection (did it exit?)",
                self.name,
            )
        try:
            return await asyncio.wait_for(self._client.execute(command, arguments), self.timeout_s)
        except ExecuteError as err:
            raise CommandError(f"{command}: {err.error_class}: {err}", self.name) from err
        except (OSError, QMPError, TimeoutError, EOFError) as err:
            hung_up = self._client.runstate is not QmpRunstate.RUNNING
            await self._teardown()
            why = "QEMU closed the connection (did it exit?)" if hung_up else _why(err)
            raise ConnectError(f"{command}: QMP connection lost: {why}", self.name) from err

    async def close(self) -> None:
        """Disconnect if connected; never raises (a dead VM is already closed)."""
        if self.runstate is Runstate.RUNNING:
            await self._teardown()

    async def _teardown(self) -> None:
        self.runstate = Runstate.DISCONNECTING
        client, self._client = self._client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.disconnect(), self.timeout_s)
            except Exception as err:  # cleanup must not fail: the cause was already raised
                log.debug("%s: QMP disconnect: %s", self.name, _why(err))
        self.runstate = Runstate.IDLE


def _peer_pid(sock: socket.socket) -> int | None:
    """The pid of the process listening on a connected unix socket (Linux)."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid = struct.unpack("3i", creds)[0]
    return pid or None


def _why(err: BaseException) -> str:
    """A one-line cause, including the wrapped cause of qemu.qmp's ConnectError."""
    if isinstance(err, TimeoutError):
        return "no answer within the time-out (QEMU hung, or another client holds the socket)"
    if isinstance(err, ExecInterruptedError | EOFError | ConnectionResetError):
        return "QEMU closed the connection (did it exit?)"
    return str(err) or type(err).__name__
