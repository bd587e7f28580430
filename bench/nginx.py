"""The benchmark's nginx: where the binary is and the config it runs.

Two server blocks on 127.0.0.1 share their file and TCP settings (those of
``deploy/nginx.conf``): the same bytes as a static file (the machine's
ceiling) and proxy_cache in front of feedsvc. ``--nginx-levers`` adds rows
that change one setting each. The process itself is started and stopped by
:mod:`bench.servers`, in the foreground (``daemon off``), by PID.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path


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
