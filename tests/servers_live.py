"""A real ``feedsvc serve`` process on 127.0.0.1 for the live-content tests.

Started as a user starts it (the console entry point in a subprocess), with
``FEEDSVC_*`` variables; stopped by its own PID with SIGTERM, measuring how
long it took to exit. Nothing here talks to anything but loopback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bench.servers import fetch, free_port

T = TypeVar("T")


@dataclass
class LiveServer:
    """A running ``feedsvc serve`` subprocess and what it printed."""

    process: subprocess.Popen[str]
    port: int
    output: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @property
    def base(self) -> str:
        """The base URL the server answers on."""
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        return "".join(self.output)

    def get(
        self, path: str, headers: dict[str, str] | None = None, timeout: float = 10
    ) -> tuple[int, dict[str, str], bytes]:
        """One GET on a fresh connection: (status, headers, body)."""
        return fetch(self.port, path, headers, timeout)

    def stop(self, timeout: float = 10) -> float:
        """SIGTERM by PID; wait for exit; seconds it took. Kills it if it hangs."""
        if self.process.poll() is not None:
            return 0.0
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
            raise AssertionError(f"server ignored SIGTERM for {timeout}s") from None
        finally:
            if self._reader is not None:
                self._reader.join(timeout=5)
        return time.monotonic() - started


def start_live_server(
    content: Path,
    *,
    reload_interval: float = 0.2,
    threads: int = 8,
    extra_env: dict[str, str] | None = None,
    timeout: float = 20,
) -> LiveServer:
    """Start ``feedsvc serve`` on a free loopback port and wait until it answers."""
    port = free_port()
    env = {
        **os.environ,
        "FEEDSVC_RELOAD": str(reload_interval),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "feedsvc.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--threads", str(threads), "--content-dir", str(content)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    server = LiveServer(process, port)

    def pump() -> None:  # keep the pipe drained so the server never blocks on logging
        assert process.stdout is not None
        for line in process.stdout:
            server.output.append(line)

    server._reader = threading.Thread(target=pump, name="live-server-output", daemon=True)
    server._reader.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server._reader.join(timeout=5)
            raise AssertionError(f"server exited early:\n{server.log_text()}")
        try:
            status, _, _ = server.get("/healthz", timeout=2)
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.05)
    server.stop()
    raise AssertionError(f"server did not answer within {timeout}s:\n{server.log_text()}")


def wait_for(
    predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition", step: float = 0.02
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``.

    Bounded waits instead of fixed sleeps: a test is as fast as the code.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


class WatchedApp:
    """The real app in this process with its real watcher thread polling real files."""

    def __init__(self, content: Path, interval: float = 0.1, **settings: object) -> None:
        from feedsvc.service.core import FeedService
        from feedsvc.settings import ServiceSettings
        from feedsvc.web.app import create_app

        self.settings = ServiceSettings(
            content_dir=content,
            reload_interval=interval,
            **settings,  # type: ignore[arg-type]
        )
        self.service = FeedService(self.settings)
        self.app = create_app(self.settings, service=self.service, watch=True)
        self.client = self.app.test_client()

    def healthz(self) -> dict[str, object]:
        return self.client.get("/healthz").get_json()

    def wait_version_change(self, old_version: str, timeout: float = 10.0) -> dict[str, object]:
        """Wait until /healthz reports a content version other than ``old_version``."""
        return wait_for(
            lambda: (h := self.healthz())["version"] != old_version and h,
            timeout,
            "a reload",
        )

    def close(self) -> None:
        self.service.stop()
