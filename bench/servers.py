"""Real server processes on 127.0.0.1, for the tests and the benchmarks alike.

One way to run a server (``feedsvc serve``, a Python app, nginx) as a child
process: start it on a free loopback port, wait (bounded) until it answers,
stop it by its own PID (SIGTERM, then SIGKILL after a timeout). Output goes
to a file, never a pipe, so a chatty server cannot block on a full pipe;
:meth:`ServerProcess.log` reads it back, also after the process stopped.

Usage::

    with feedsvc_server(content_dir) as server:            # waits for /healthz
        status, headers, body = server.get("/rss.xml")
    assert server.returncode == 0 and "feedsvc stopped" in server.log()

    with ProcessGroup() as group:                          # stops them all on exit
        group.start(feedsvc_server(content_dir, log_path=work / "feedsvc.log"))
        group.start(ServerProcess([nginx, "-c", conf], port=port, ready="/rss.xml"))
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
POLL = 0.01  # seconds between readiness probes: a refused connect costs next to nothing
PROBE_TIMEOUT = 10.0  # one probe of a server that accepted the connection (a first render)


class ServerError(RuntimeError):
    """A server exited or did not answer in time; the message carries its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def fetch(
    port: int,
    path: str,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5,
    source: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One GET on 127.0.0.1 (from ``source``, another 127/8 address, if given):
    status, headers (lower-case names), body."""
    bind = (source, 0) if source else None
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout, source_address=bind)
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def wait_http(
    port: int,
    path: str | None = "/healthz",
    timeout: float = 30.0,
    alive: Callable[[], bool] = lambda: True,
) -> None:
    """Wait until ``127.0.0.1:port`` answers HTTP for ``path`` (any status).

    ``path=None`` waits for a TCP connection only (no request is sent, so no
    cache or counter is touched). ``alive`` is polled too: a process that
    dies at start fails fast instead of after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        if not alive():
            raise ServerError(f"exited before answering on port {port}")
        try:
            if path is None:
                socket.create_connection((HOST, port), timeout=PROBE_TIMEOUT).close()
            else:
                fetch(port, path, timeout=PROBE_TIMEOUT)
            return
        except (OSError, http.client.HTTPException):
            if time.monotonic() >= deadline:
                raise ServerError(f"nothing answered on {HOST}:{port} within {timeout}s") from None
            time.sleep(POLL)


class ServerProcess:
    """One server command run as a child process, stopped by its own PID.

    ``argv`` must make the server listen on ``127.0.0.1:port``. ``env`` is
    added to this process's environment (a ``None`` value removes a
    variable). ``ready`` is the path polled by :meth:`start` (``None``: wait
    for the port to accept connections). Without ``log_path`` the output
    goes to a temporary file that :meth:`stop` reads back and removes.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        port: int,
        env: Mapping[str, str | None] | None = None,
        log_path: Path | None = None,
        cwd: Path = REPO,
        ready: str | None = "/healthz",
        timeout: float = 30.0,
        stop_signal: signal.Signals = signal.SIGTERM,
        cpu: int | None = None,
    ) -> None:
        self.argv = list(argv)
        if cpu is not None and shutil.which("taskset"):
            self.argv = ["taskset", "-c", str(cpu), *self.argv]
        self.port = port
        merged: dict[str, str | None] = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.env = {name: value for name, value in merged.items() if value is not None}
        self.log_path = log_path
        self.cwd = cwd
        self.ready = ready
        self.timeout = timeout
        self.stop_signal = stop_signal
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self.stop_seconds = 0.0  # how long the last stop took
        self.killed = False  # whether it ignored the stop signal and was killed
        self._temporary_log = log_path is None
        self.temporary_dirs: list[Path] = []  # removed by stop() (a server's private state)
        self._final_log: str | None = None
        self._signalled_at: float | None = None

    @property
    def pid(self) -> int:
        """PID of the (last) process."""
        assert self.process is not None, "not launched"
        return self.process.pid

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    def running(self) -> bool:
        """Whether the process was launched and has not exited."""
        return self.process is not None and self.process.poll() is None

    def launch(self) -> Self:
        """Start the process without waiting for it to answer (see :meth:`start`)."""
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="server-", suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
                start_new_session=True,  # Ctrl-C reaches only us; we stop it by PID
            )  # fmt: skip
        self.returncode, self._final_log, self._signalled_at = None, None, None
        return self

    def wait_ready(self) -> Self:
        """Wait (bounded) until it answers; if it does not, stop it and raise with its log."""
        try:
            wait_http(self.port, self.ready, self.timeout, alive=self.running)
        except ServerError as exc:
            self.stop()
            raise ServerError(f"{self.argv[0]} on port {self.port}: {exc}\n{self.log()}") from None
        return self

    def start(self) -> Self:
        """:meth:`launch`, then :meth:`wait_ready`."""
        return self.launch().wait_ready()

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit on its own; its exit code."""
        assert self.process is not None, "not launched"
        self.returncode = self.process.wait(timeout)
        return self.returncode

    def terminate(self) -> None:
        """Send the stop signal by PID (once, if it is still running); do not wait."""
        if self.running() and self._signalled_at is None:
            self._signalled_at = time.monotonic()
            os.kill(self.pid, self.stop_signal)

    def stop(self, timeout: float = 10.0) -> int:
        """Stop by PID: the stop signal, SIGKILL after ``timeout`` s; the exit code.

        Sets :attr:`stop_seconds` and :attr:`killed`. Safe to call twice.
        """
        process = self.process
        if process is None:
            return self.returncode if self.returncode is not None else 0
        self.terminate()
        started = self._signalled_at or time.monotonic()
        self.killed = False
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(5)
            self.killed = True
        self.stop_seconds = time.monotonic() - started
        self.returncode = process.returncode
        self.process = None
        self._final_log = self.log()
        if self._temporary_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None
        for folder in self.temporary_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        return self.returncode

    def log(self) -> str:
        """Everything the process wrote (stdout and stderr) so far."""
        if self._final_log is not None:
            return self._final_log
        try:
            return self.log_path.read_text("utf-8", errors="replace") if self.log_path else ""
        except FileNotFoundError:
            return ""

    def get(
        self, path: str, headers: Mapping[str, str] | None = None, timeout: float = 10
    ) -> tuple[int, dict[str, str], bytes]:
        """One GET on a fresh connection: status, headers (lower-case names), body."""
        return fetch(self.port, path, headers, timeout)

    def __enter__(self) -> Self:
        return self if self.process is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def python_command(*args: str) -> list[str]:
    """Run with the interpreter running the caller (the project's venv)."""
    return [sys.executable, *args]


def feedsvc_server(
    content: Path,
    *extra: str,
    port: int | None = None,
    reload: float | None = 0.0,
    env: Mapping[str, str | None] | None = None,
    **options: Any,
) -> ServerProcess:
    """``feedsvc serve`` on ``content``, on a free port of 127.0.0.1 (not yet started).

    ``extra`` are more command-line arguments; ``reload`` sets
    ``FEEDSVC_RELOAD`` (``None``: leave it to the environment and the
    default); ``options`` go to :class:`ServerProcess`. Unless ``env`` names
    a ``FEEDSVC_STATE_DIR``, the server keeps its state in a temporary
    folder of its own (removed when it stops), never in the repository.
    """
    port = free_port() if port is None else port
    argv = python_command("-m", "feedsvc.cli", "serve", "--host", HOST, "--port", str(port),
                          "--content-dir", str(content), *extra)  # fmt: skip
    variables = dict(env or {})
    # The benchmarks read /healthz and /metrics from the port they load: keep the
    # private pages there (no admin listener) unless a caller says otherwise.
    variables.setdefault("FEEDSVC_ADMIN_ADDR", "public")
    if reload is not None:
        variables.setdefault("FEEDSVC_RELOAD", str(reload))
    state = None
    if "FEEDSVC_STATE_DIR" not in variables:
        state = Path(tempfile.mkdtemp(prefix="feedsvc-state-"))
        variables["FEEDSVC_STATE_DIR"] = str(state)
    server = ServerProcess(argv, port=port, env=variables, **options)
    if state is not None:
        server.temporary_dirs.append(state)
    return server


class ProcessGroup:
    """Server processes that must all be stopped, by PID, when the block ends.

    Leaving the ``with`` block (normally, by exception or Ctrl-C) sends each
    its stop signal first, then waits for each and kills the ones that hang.
    """

    def __init__(self) -> None:
        self.servers: list[ServerProcess] = []

    def launch(self, server: ServerProcess) -> ServerProcess:
        """Register ``server`` and launch it; call its ``wait_ready()`` when needed."""
        self.servers.append(server)
        return server.launch()

    def start(self, server: ServerProcess) -> ServerProcess:
        """Register ``server``, launch it and wait until it answers."""
        return self.launch(server).wait_ready()

    @property
    def pids(self) -> list[int]:
        """PIDs of the running members."""
        return [server.pid for server in self.servers if server.running()]

    def stop_all(self, timeout: float = 10.0) -> None:
        """Signal every member, then wait for each (SIGKILL after ``timeout``)."""
        for server in self.servers:
            server.terminate()
        for server in self.servers:
            server.stop(timeout)
        self.servers.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
