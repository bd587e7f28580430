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
from dataclasses import dataclass
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


# The http{} settings of Debian's stock /etc/nginx/nginx.conf that matter
# here (sendfile, tcp_nopush): the surroundings deploy/nginx.conf is included
# into. Each server block sets its own tcp_nopush and open_file_cache.
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

    upstream feedsvc {{
        server 127.0.0.1:{upstream_port};
        keepalive 16;
    }}
{servers}}}
"""

# The machine's ceiling: the same bytes as a static file.
STATIC_LOCATION = """\
            root {static_root};
            etag on;
"""

# feedsvc behind proxy_cache, with the cache settings of deploy/nginx.conf
# (what we tell users to run; its /feeds prefix and X-Forwarded-* headers are
# left out so the bytes stay those of the other rows).
PROXY_LOCATION = """\
            proxy_pass http://feedsvc;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_cache {zone};
            proxy_cache_key $http_host$request_uri;
            proxy_cache_revalidate on;
            proxy_cache_lock on;
            proxy_cache_use_stale error timeout http_500 http_502 http_503 http_504 updating;
            proxy_buffer_size 32k;
            proxy_buffers 4 32k;
            add_header X-Cache-Status $upstream_cache_status always;
"""

# As in deploy/nginx.conf.
OPEN_FILE_CACHE = "open_file_cache max=1000 inactive=60s;"


@dataclass(frozen=True, slots=True)
class NginxServer:
    """One server block of the benchmark's nginx: the static file or the proxy cache.

    The two rows of the table share their file and TCP settings (those of
    deploy/nginx.conf: ``tcp_nopush off``, ``open_file_cache``), so they
    differ only in proxy_cache against a plain file. A lever row changes one
    setting: ``tcp_nopush on`` is what the location would inherit from
    Debian's http block, ``extra`` is added to the location.
    """

    kind: str  # "static" or "proxy"
    description: str
    tcp_nopush: str = "off"
    open_file_cache: bool = True
    extra: str = ""


NGINX_SERVERS: dict[str, NginxServer] = {
    "nginx-static": NginxServer("static", "same bytes as a file (ceiling), same settings"),
    "nginx-proxy": NginxServer("proxy", "proxy_cache in front of feedsvc, deploy settings"),
}

# ``--nginx-levers``: the settings measured while closing the proxy-cache gap,
# one changed at a time, so anyone can rerun the comparison.
NGINX_LEVERS: dict[str, tuple[str, NginxServer]] = {
    "nginx-static-nopush-on": (
        "nginx static, nopush on",
        NginxServer("static", "static with Debian's tcp_nopush on", tcp_nopush="on"),
    ),
    "nginx-static-no-ofc": (
        "nginx static, no ofc",
        NginxServer("static", "static without open_file_cache", open_file_cache=False),
    ),
    "nginx-proxy-nopush-on": (
        "nginx cache, nopush on",
        NginxServer("proxy", "proxy_cache with Debian's tcp_nopush on", tcp_nopush="on"),
    ),
    "nginx-proxy-no-ofc": (
        "nginx cache, no ofc",
        NginxServer("proxy", "proxy_cache without open_file_cache", open_file_cache=False),
    ),
    "nginx-proxy-no-vary": (
        "nginx cache, Vary off",
        NginxServer(
            "proxy",
            "proxy_cache ignoring Vary (one lookup per hit; measurement only, unsafe to deploy)",
            extra="proxy_ignore_headers Vary;",
        ),
    ),
}


def write_nginx_conf(
    work: Path, static_root: Path, upstream_port: int, servers: dict[str, tuple[int, NginxServer]]
) -> Path:
    """An nginx config with one loopback server block per entry (name -> port, server)."""
    for sub in ("tmp-body", "tmp-proxy", "tmp-fastcgi", "tmp-uwsgi", "tmp-scgi"):
        (work / sub).mkdir(exist_ok=True)
    blocks = []
    for index, (name, (port, server)) in enumerate(servers.items()):
        if server.kind == "static":
            location = STATIC_LOCATION.format(static_root=static_root)
        else:
            zone = f"cache{index}"
            (work / zone).mkdir(exist_ok=True)
            blocks.append(
                f"    proxy_cache_path {work / zone} levels=1:2 keys_zone={zone}:8m "
                "max_size=256m inactive=7d use_temp_path=off;\n"
            )
            location = PROXY_LOCATION.format(zone=zone)
        location += f"            tcp_nopush {server.tcp_nopush};\n"
        if server.open_file_cache:
            location += f"            {OPEN_FILE_CACHE}\n"
        if server.extra:
            location += f"            {server.extra}\n"
        blocks.append(
            f"    # {name}: {server.description}\n"
            f"    server {{\n        listen 127.0.0.1:{port};\n"
            f"        location / {{\n{location}        }}\n    }}\n"
        )
    # As root, workers would drop to "nobody" and could not read our temp dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = work / "nginx.conf"
    text = NGINX_CONF.format(
        user=user, work=work, upstream_port=upstream_port, servers="".join(blocks)
    )
    conf.write_text(text)
    return conf
