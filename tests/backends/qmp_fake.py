"""A fake QEMU QMP server, for testing the QEMU backend without QEMU.

It speaks enough QMP for the backend (greeting, ``qmp_capabilities``,
``query-memory-size-summary``, ``qom-list``, ``qom-set``, ``qom-get``,
``query-balloon``, ``balloon``), records the commands it receives, and can be
told to answer a command with an error or not at all. It runs its own event
loop in a thread, since the backend under test runs its own.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

MIB = 1024**2


class FakeQemu:
    """One fake VM listening on a QMP unix socket."""

    def __init__(self, path: Path, memory_bytes: int = 512 * MIB) -> None:
        self.path = path
        self.memory_bytes = memory_bytes
        self.actual_bytes = memory_bytes
        self.balloon = True
        self.stats: dict[str, Any] = {"stats": {}, "last-update": 0}
        #: cumulative bytes read and written by the guest's one disk
        self.disk_bytes = [0, 0]
        #: command name -> QMP error class to answer with
        self.errors: dict[str, str] = {}
        #: commands never answered (a hung QEMU)
        self.hang: set[str] = set()
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> FakeQemu:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(5)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        self.path.unlink(missing_ok=True)

    def commands(self) -> list[str]:
        return [name for name, _ in self.received]

    async def _listen(self) -> None:
        self._server = await asyncio.start_unix_server(self._session, path=str(self.path))

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version = {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": "fake"}
        greeting = {"QMP": {"version": version, "capabilities": []}}
        writer.write(json.dumps(greeting).encode() + b"\n")
        decoder, buffer = json.JSONDecoder(), ""
        try:
            # QMP is a stream of JSON objects, not necessarily one per line
            while chunk := await reader.read(4096):
                buffer += chunk.decode()
                while buffer.strip():
                    try:
                        message, end = decoder.raw_decode(buffer.lstrip())
                    except json.JSONDecodeError:
                        break  # incomplete: wait for more
                    buffer = buffer.lstrip()[end:]
                    await self._reply(message, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _reply(self, message: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        name, arguments = message["execute"], message.get("arguments", {})
        self.received.append((name, arguments))
        if name in self.hang:
            return
        reply = self._answer(name, arguments)
        if "id" in message:
            reply["id"] = message["id"]
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()

    def _answer(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if name in self.errors:
            return {"error": {"class": self.errors[name], "desc": f"{name} failed on purpose"}}
        if name == "qmp_capabilities" or name == "qom-set":
            return {"return": {}}
        if name == "query-memory-size-summary":
            return {"return": {"base-memory": self.memory_bytes, "plugged-memory": 0}}
        if name == "qom-list":
            if arguments["path"] == "/machine/peripheral" and self.balloon:
                return {"return": [{"name": "balloon0", "type": "child<virtio-balloon-pci>"}]}
            if arguments["path"] == "/machine/peripheral":
                return {"return": [{"name": "type", "type": "string"}]}
            return {"error": {"class": "DeviceNotFound", "desc": "no such container"}}
        if name == "query-balloon":
            if not self.balloon:
                return {"error": {"class": "DeviceNotActive", "desc": "No balloon device"}}
            return {"return": {"actual": self.actual_bytes}}
        if name == "balloon":
            self.actual_bytes = arguments["value"]
            return {"return": {}}
        if name == "qom-get":
            return {"return": self.stats}
        if name == "query-blockstats":
            read, written = self.disk_bytes
            return {
                "return": [
                    {
                        "device": "",
                        "qdev": "/machine/peripheral-anon/device[0]",
                        "stats": {"rd_bytes": read, "wr_bytes": written},
                    }
                ]
            }
        return {"error": {"class": "CommandNotFound", "desc": f"no command {name}"}}
