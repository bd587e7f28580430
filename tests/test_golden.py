"""Every URL of the demo content answers exactly as recorded (see ``tests/golden.py``).

The record was made before the package was reorganised into layers; a
response that differs now is a behaviour change, and the failure names the
request and what differs (status, a header, or the body).
"""

from __future__ import annotations

import pytest
from golden import SITES, replay


@pytest.mark.parametrize("site", sorted(SITES))
def test_every_recorded_url_answers_as_recorded(site: str) -> None:
    differences = []
    for request, recorded, now in replay(site):
        where = f"{request['method']} {request['path']} {request['headers']}"
        if now["status"] != recorded["status"]:
            differences.append(f"{where}: status {recorded['status']} -> {now['status']}")
        for name in sorted(set(recorded["headers"]) | set(now["headers"])):
            before, after = recorded["headers"].get(name), now["headers"].get(name)
            if before != after:
                differences.append(f"{where}: {name}: {before!r} -> {after!r}")
        if now["body"]["sha256"] != recorded["body"]["sha256"]:
            differences.append(f"{where}: body differs ({recorded['body']['length']} -> "
                               f"{now['body']['length']} bytes)")  # fmt: skip
    assert not differences, "\n".join(differences[:40])
