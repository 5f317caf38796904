"""An UPDATE whose answer never comes: reported as "outcome unknown", never as applied or not applied.

A loopback TCP server that accepts the message and then stays silent (or hangs up) stands in for a
server that dies after receiving the update; no BIND needed.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.name
import pytest

from reconciler.config import Target
from reconciler.model import dns as m
from reconciler.model.resource import Resource
from reconciler.plan import Change
from reconciler.providers.rfc2136 import create
from reconciler.providers.rfc2136.zonedata import ZoneData

ZONE = "namgun.or.kr"


@pytest.fixture(params=["silent", "hang-up"])
def mute_server(request: pytest.FixtureRequest) -> Iterator[tuple[int, str]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.recv(65535)  # the update arrived
            if request.param == "hang-up":
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], request.param
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    listener.close()


def test_lost_answer_is_outcome_unknown(mute_server: tuple[int, str], monkeypatch: pytest.MonkeyPatch) -> None:
    port, _mode = mute_server
    monkeypatch.setenv("RFC2136_TEST_SECRET", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0")
    provider = create(Target("bind-lab", "rfc2136", {
        "server": "127.0.0.1", "port": port, "zones": [ZONE], "timeout": 0.5, "max_message_size": 16384,
        "tsig": {"name": "k.", "secret": "env:RFC2136_TEST_SECRET"}}, {}, "test"))
    provider.zones[ZONE] = ZoneData(ZONE, dns.name.from_text(ZONE))  # as if read
    first = Change.create("bind-lab", Resource(m.KIND, (ZONE, "a", "TXT"), m.rrset_data(300, ["a" * 12000])))
    second = Change.create("bind-lab", Resource(m.KIND, (ZONE, "b", "TXT"),
                                                m.rrset_data(300, ["b" * 12000])))  # a second message
    try:
        results = provider.apply([first, second])
    finally:
        provider.close()
    assert not any(r.ok for r in results)
    sent = [r for r in results if not r.skipped]
    assert len(sent) == 1 and len(results) == 2
    assert sent and all(r.detail.get("unknown") for r in sent)
    assert all("whether the server applied it is unknown" in (r.error or "") for r in sent)
    assert all(f"127.0.0.1:{port} zone {ZONE}" in (r.error or "") for r in results)
    # Nothing after an unknown outcome is sent: the run stops and says so.
    assert all("not sent" in (r.error or "") for r in results if r.skipped)
    assert "c2VjcmV0" not in " ".join(r.error or "" for r in results)
