"""Shared plumbing for the lab's emulators: loopback HTTP serving, latency, fault injection, counters.

Every emulator (WinRM/Windows DNS, Authentik, Stalwart) is a threaded HTTP server bound to 127.0.0.1
on a free port. What makes each one faithful lives in its own package; this module only carries the
knobs that tests and benchmarks turn on every emulator alike:

- ``latency``: seconds added to every request (the benchmarks model a WAN round trip with it);
- ``faults``: a queue of one-shot faults (HTTP status, dropped connection, delay) matched by a
  predicate, so a test can say "the 3rd PATCH to /core/users/ answers 503";
- ``counter``: requests seen per (method, path-prefix) and in total, so tests and benchmarks can
  assert round trips rather than guess them.
"""

from __future__ import annotations

import collections
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"


@dataclass
class Fault:
    """One injected fault, consumed the first time ``match`` accepts a request.

    ``status`` answers with that HTTP status and ``body``; ``drop`` closes the connection without an
    answer (the client sees a connection reset / remote disconnect); ``delay`` sleeps first (a
    timeout test sets it above the client's timeout). ``times`` lets one fault fire repeatedly.
    """

    match: Callable[[str, str], bool]  # (method, path) -> bool
    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0
    times: int = 1


class LabControl:
    """Knobs shared by an emulator's request handlers. Thread-safe."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.counter: collections.Counter[str] = collections.Counter()
        self.total = 0

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset_counters(self) -> None:
        with self._lock:
            self.counter.clear()
            self.total = 0

    def count(self, method: str, path: str) -> None:
        with self._lock:
            self.total += 1
            self.counter[f"{method} {path}"] += 1

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.match(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


class LabHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server on loopback that knows its LabControl and its emulated state."""

    daemon_threads = True
    allow_reuse_address = True
    # The socketserver default backlog of 5 drops connections when a client sends requests in
    # parallel (a dropped SYN costs a 1 s retransmit); real servers accept far more.
    request_queue_size = 128

    def __init__(self, handler: type[BaseHTTPRequestHandler], control: LabControl, state: Any,
                 port: int = 0) -> None:
        super().__init__((LOOPBACK, port), handler)
        self.control = control
        self.state = state
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> LabHTTPServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"lab-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)


class LabHandler(BaseHTTPRequestHandler):
    """Base request handler: counts, sleeps the configured latency, fires injected faults.

    Subclasses implement ``handle_request(method)``; they call ``self.reply(...)`` to answer.
    """

    server: LabHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # keep test output clean; the counter is the record

    _body: bytes | None = None

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms
        # to every reply on loopback, which would swamp the latency the benchmarks inject on purpose.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _dispatch(self, method: str) -> None:
        self._body = None  # the handler lives as long as a kept-alive connection: forget the last body
        control = self.server.control
        path = self.path.split("?", 1)[0]
        control.count(method, path)
        if control.latency:
            time.sleep(control.latency)
        fault = control.take_fault(method, path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                self.read_body()
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return
            if fault.status is not None:
                self.read_body()
                self.reply(fault.status, fault.body, fault.headers or {"Content-Type": "application/json"})
                return
        self.handle_request(method)

    def read_body(self) -> bytes:
        if self._body is not None:
            return self._body
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        return self._body

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def handle_request(self, method: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


def answer_commands(pipe: Any, control: LabControl, stop: Callable[[], None]) -> None:
    """Serve a benchmark's requests from a lab running in a child process, until told to stop.

    The benchmarks keep each emulator in its own process (so its CPU time is not the client's) and
    talk to it over a multiprocessing pipe: "reset" zeroes the request counters, "counters" returns
    (total, per-request counts), anything else stops the lab.
    """
    while True:
        command = pipe.recv()
        if command == "reset":
            control.reset_counters()
            pipe.send(None)
        elif command == "counters":
            pipe.send((control.total, dict(control.counter)))
        else:
            stop()
            pipe.send(None)
            return
