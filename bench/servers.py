"""Starting and stopping the servers under test, by PID, on 127.0.0.1.

Every process started here is registered in a :class:`ProcessGroup`; leaving
its ``with`` block (normally, by exception or Ctrl-C) terminates each one by
its own PID, waits, and kills the ones that do not stop. nginx runs in the
foreground (``daemon off``) so its master is our child and stops with it.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(
    port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 5
) -> tuple[int, dict[str, str], bytes]:
    """One GET on 127.0.0.1: status, headers (lower-case names), body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


class ProcessGroup:
    """Child processes that must all be stopped, by PID, when the block ends."""

    def __init__(self, workdir: Path, cpu: int | None = None) -> None:
        self.workdir = workdir
        self.cpu = cpu
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> int:
        """Start ``command`` with output to ``workdir/name.log``; returns its PID."""
        if self.cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(self.cpu), *command]
        log = (self.workdir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            cwd=REPO, start_new_session=True,
        )  # fmt: skip
        log.close()
        self.processes.append((name, process))
        return process.pid

    def wait_http(self, name: str, port: int, path: str = "/", timeout: float = 60) -> None:
        """Wait until ``port`` answers HTTP (any status), or fail with the log."""
        process = dict(self.processes)[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log(name)}")
            try:
                fetch(port, path, timeout=2)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{name} did not answer on port {port}: {self.log(name)}")

    def log(self, name: str) -> str:
        """The tail of a process's log."""
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop_all(self) -> None:
        """SIGTERM each child by PID, then SIGKILL what is still running after 10 s."""
        for _, process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()


def python_command(*args: str) -> list[str]:
    """Run with the interpreter running the benchmark (the project's venv)."""
    return [sys.executable, *args]


def nginx_path() -> str | None:
    """nginx binary (Debian installs it in /usr/sbin, often not on PATH)."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
master_process on;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {work}/tmp-body;
    proxy_temp_path {work}/tmp-proxy;
    fastcgi_temp_path {work}/tmp-fastcgi;
    uwsgi_temp_path {work}/tmp-uwsgi;
    scgi_temp_path {work}/tmp-scgi;
    types {{ application/rss+xml xml; }}
    charset utf-8;
    charset_types application/rss+xml;
    proxy_cache_path {work}/proxy-cache levels=1:2 keys_zone=feeds:8m max_size=256m;

    # The machine's ceiling: the same bytes as a static file, stock settings
    # (open_file_cache was measured to make no difference here).
    server {{
        listen 127.0.0.1:{static_port};
        root {static_root};
        etag on;
    }}

    # feedsvc behind a caching reverse proxy (what deploy/ recommends).
    upstream feedsvc {{
        server 127.0.0.1:{upstream_port};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{proxy_port};
        location / {{
            proxy_pass http://feedsvc;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_cache feeds;
            proxy_cache_lock on;
            proxy_cache_revalidate on;
            proxy_cache_use_stale updating error timeout;
            proxy_cache_background_update on;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""


def write_nginx_conf(
    work: Path, static_root: Path, static_port: int, proxy_port: int, upstream_port: int
) -> Path:
    """An nginx config for the static and proxy-cache variants (loopback only)."""
    for sub in ("tmp-body", "tmp-proxy", "tmp-fastcgi", "tmp-uwsgi", "tmp-scgi", "proxy-cache"):
        (work / sub).mkdir(exist_ok=True)
    # As root, workers would drop to "nobody" and could not read our temp dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = work / "nginx.conf"
    text = NGINX_CONF.format(
        user=user, work=work, static_root=static_root, static_port=static_port,
        proxy_port=proxy_port, upstream_port=upstream_port,
    )  # fmt: skip
    conf.write_text(text)
    return conf
