"""Scraping a live ``/metrics`` endpoint in tests: a juggler command in a subprocess,
its URL read from its stderr, and the samples parsed with prometheus_client's parser."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import juggler

#: the source tree under test, so the subprocess runs it rather than an installed copy
SRC = str(Path(juggler.__file__).resolve().parents[1])


class Scrape:
    """One scrape: every sample by name, then by its labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                self.samples.setdefault(sample.name, {})[labels] = sample.value

    def names(self) -> set[str]:
        return set(self.samples)

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get(name, {}).get(tuple(sorted(labels.items())))

    def by_vm(self, name: str) -> dict[str, float]:
        """A per-VM series as ``{vm: value}``."""
        return {dict(labels)["vm"]: value for labels, value in self.samples.get(name, {}).items()}


def scrape(url: str) -> Scrape:
    with urllib.request.urlopen(url, timeout=10) as response:
        return Scrape(response.read().decode())


def wait_for_scrape(url: str, ready, timeout_s: float, what: str) -> Scrape:
    """Scrape until ``ready(scrape)`` holds; fail the test after the time-out."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = scrape(url)
        if ready(result):
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}:\n{result.text}")
        time.sleep(0.25)


class LiveCommand:
    """``juggler ARGS`` in a subprocess that says ``serving metrics at URL`` on stderr."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from juggler.cli import main; main()", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.stderr: list[str] = []
        self.stdout: list[str] = []
        self._url: str | None = None
        self._seen = threading.Event()
        # both pipes are drained all along, so a chatty command never blocks on a full pipe
        self._readers = [
            threading.Thread(target=self._read_stderr, daemon=True),
            threading.Thread(target=self._read_stdout, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout.append(line)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            found = re.search(r"serving metrics at (http://\S+)", line)
            if found and self._url is None:
                self._url = found.group(1)
                self._seen.set()
        self._seen.set()  # the process ended (perhaps without serving)

    def url(self, timeout_s: float) -> str:
        """The endpoint's URL once the command says it serves."""
        self._seen.wait(timeout_s)
        if self._url is None:
            self.process.kill()
            pytest.fail(f"the command never said where it serves:\n{''.join(self.stderr)}")
        return self._url

    def finish(self, timeout_s: float) -> tuple[int, str, str]:
        """Wait for the command to end: its exit status, stdout and stderr."""
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the command did not end within {timeout_s:g} s")
        for reader in self._readers:
            reader.join(timeout=10)
        return self.process.returncode, "".join(self.stdout), "".join(self.stderr)

    def stop(self) -> None:
        """End it if it still runs (a failed test must not leave it behind): SIGTERM first,
        which a lab run turns into a full teardown, then SIGKILL."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
