"""Load generators: wrk when installed, otherwise a bounded asyncio client.

Both talk to 127.0.0.1 only, run for a fixed duration and return a
:class:`LoadResult` (requests/s, p50/p99 latency, errors). wrk (Debian
package ``wrk``) is the one to trust: it is C, event-driven and leaves a core
for the server. The fallback is written in Python, so it saturates before
nginx does and its absolute numbers understate every fast variant; it exists
so the suite always runs (CI without wrk) and its results say which client
produced them.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit


@dataclass(slots=True)
class LoadResult:
    """One load run against one URL."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors, timeouts, unexpected statuses
    client: str
    # Set by the runner: CPUs other processes kept busy during the run
    # (bench/cpuwatch.py) and how many runs it took to get a quiet one.
    other_cpus: float | None = None
    attempts: int = 1

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_wrk(output: str, seconds: float) -> LoadResult:
    """Read wrk's ``--latency`` report."""
    percentiles = {
        int(m.group(1)): _duration_ms(m.group(2))
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+\w+)\s*$", output, re.MULTILINE)
    }
    total = re.search(r"^\s*(\d+) requests in ([\d.]+\w+)", output, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if not (total and rps and 50 in percentiles and 99 in percentiles):
        raise ValueError(f"cannot read wrk output:\n{output}")
    errors = 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        errors += int(bad.group(1))
    return LoadResult(
        requests=int(total.group(1)),
        seconds=_duration_ms(total.group(2)) / 1000,
        rps=float(rps.group(1)),
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        errors=errors,
        client="wrk",
    )


def wrk_path() -> str | None:
    """The wrk binary, if installed."""
    return shutil.which("wrk")


def run_wrk(
    url: str,
    headers: dict[str, str],
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    cpu: int | None = None,
) -> LoadResult:
    """Run wrk against ``url`` (loopback only) and parse its report."""
    _check_loopback(url)
    duration = max(1, round(seconds))  # wrk takes whole seconds
    command = [wrk_path() or "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
               "--latency", "--timeout", "5s"]  # fmt: skip
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout, seconds)


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        raise ValueError(f"load is sent to loopback addresses only, not {host!r}")


async def _connection(
    host: str, port: int, request: bytes, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    """One keep-alive connection sending requests back to back until ``deadline``."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await asyncio.wait_for(reader.readexactly(length), 5)
            latencies.append(time.perf_counter() - started)
            if status >= 400:
                errors.append(status)
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
        errors.append(0)
    finally:
        writer.close()


def run_python_client(
    url: str, headers: dict[str, str], *, seconds: float, connections: int
) -> LoadResult:
    """Bounded asyncio load: ``connections`` keep-alive clients for ``seconds``."""
    _check_loopback(url)
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"GET {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    latencies: list[float] = []
    errors: list[int] = []

    async def main() -> float:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(
                _connection(host, port, request, deadline, latencies, errors)
                for _ in range(connections)
            )
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    if not latencies:
        raise RuntimeError(f"no response from {url}")
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        rps=len(latencies) / elapsed,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        errors=len(errors),
        client="python",
    )
