"""`reconciler serve`: push webhooks in, one reconcile at a time out, drift checks on a timer.

Config::

    serve:
      listen: 127.0.0.1:8470          # host network: the forge on this host reaches it on loopback
      secret: env:RECONCILER_WEBHOOK_SECRET   # shared with the forge; per forge: secrets: {github: env:…}
      max_body: 1048576               # bytes; larger deliveries are answered 413
      debounce: 0.3                   # seconds of quiet before a run starts (a burst becomes one run)
      drift_interval: 3600            # seconds between drift checks; 0 turns them off
      reconcile_on_start: true        # converge once at start (after a crash, a missed push …)

Routes: ``POST /webhook`` (answers 202 at once; the run happens in the background), ``GET /healthz``,
``GET /metrics`` (Prometheus text format) and ``GET /`` (a small status page).
"""

from __future__ import annotations

import collections
import html
import json
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..config import Config
from ..runs import Console, UserError
from ..secrets import SecretError, secret
from .outcome import Outcome, entries_since, log_size
from .runner import Runner, trigger_event
from .webhook import Push, WebhookRefused, authenticate, classify

FORGES = ("forgejo", "gitea", "github", "gitlab")
DISCARD_LIMIT = 16 << 20
DEFAULTS: dict[str, Any] = {"listen": "127.0.0.1:8470", "max_body": 1 << 20, "debounce": 0.3, "max_delay": 5.0,
                            "drift_interval": 3600, "reconcile_on_start": True, "lock_wait": 600}


@dataclass
class ServeSettings:
    host: str
    port: int
    max_body: int
    debounce: float
    max_delay: float
    drift_interval: float
    reconcile_on_start: bool
    lock_wait: float
    secrets: dict[str, str] = field(default_factory=dict)  # forge -> secret reference

    @classmethod
    def from_config(cls, cfg: Config) -> ServeSettings:
        section = {**DEFAULTS, **cfg.section("serve")}
        host, _, port = str(section["listen"]).rpartition(":")
        refs: dict[str, str] = {}
        if section.get("secret"):
            refs = dict.fromkeys(FORGES, str(section["secret"]))
        for forge, ref in dict(section.get("secrets") or {}).items():
            if forge not in FORGES:
                raise UserError(f"serve.secrets: unknown forge {forge!r} (known: {', '.join(FORGES)})")
            refs[forge] = str(ref)
        for forge, ref in refs.items():
            try:
                secret(ref, f"serve secret for {forge}")
            except SecretError as exc:
                raise UserError(str(exc)) from None
        try:
            drift_interval = float(section["drift_interval"] or 0)  # 0 / null: no periodic drift check
        except (TypeError, ValueError):
            drift_interval = -1.0
        if not drift_interval >= 0:
            raise UserError(f"serve.drift_interval: {section['drift_interval']!r} is not a number of seconds "
                            "(0 turns the periodic drift check off)")
        return cls(host.strip("[]") or "127.0.0.1", int(port), int(section["max_body"]), float(section["debounce"]),
                   float(section["max_delay"]), drift_interval, bool(section["reconcile_on_start"]),
                   float(section["lock_wait"]), refs)

    def secret_bytes(self) -> dict[str, bytes]:
        return {forge: secret(ref, f"serve secret for {forge}").reveal().encode("utf-8")
                for forge, ref in self.secrets.items()}


# ------------------------------------------------------------------------------------------ metrics
class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter("reconciler_runs", "Runs by kind and outcome", ["kind", "status"], registry=r)
        self.applied = Counter("reconciler_changes_applied", "Changes applied and verified, by target", ["target"],
                               registry=r)
        self.drift = Gauge("reconciler_drift_items", "Drift items found by the last check, by target", ["target"],
                           registry=r)
        self.last_success = Gauge("reconciler_last_success_timestamp_seconds",
                                  "Unix time of the last successful run, by kind", ["kind"], registry=r)
        self.duration = Histogram("reconciler_run_duration_seconds", "Run duration, by kind", ["kind"], registry=r,
                                  buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600))
        self.webhooks = Counter("reconciler_webhook_requests", "Webhook requests by result", ["result"], registry=r)

    def observe(self, outcome: Outcome) -> None:
        self.runs.labels(outcome.kind, outcome.status).inc()
        self.duration.labels(outcome.kind).observe(outcome.duration)
        for target, count in outcome.applied.items():
            self.applied.labels(target).inc(count)
        if outcome.kind == "drift" and outcome.status in ("ok", "changes"):
            for target, items in outcome.drift.items():
                self.drift.labels(target).set(items)
        if outcome.kind == "apply" and outcome.status == "ok":
            for target in outcome.drift:  # a successful apply leaves live equal to the commit
                self.drift.labels(target).set(0)
        # a drift check that found drift, or had nothing to compare yet (noop), still ran as designed
        ok = outcome.status == "ok" or (outcome.kind == "drift" and outcome.status in ("changes", "noop"))
        if ok:
            self.last_success.labels(outcome.kind).set(time.time())

    def text(self) -> bytes:
        return generate_latest(self.registry)


# ------------------------------------------------------------------------------------------ worker
class Coordinator:
    """One worker thread: runs queued applies and drift checks one after another.

    Pushes that arrive while a run is waiting or running collapse into a single pending apply, which
    applies the branch tip as fetched when it starts (the newest commit). A short quiet period
    (``debounce``, at most ``max_delay`` after the first push) lets a burst become one run.
    """

    def __init__(self, runner: Runner, *, debounce: float, max_delay: float, lock_wait: float) -> None:
        self.runner = runner
        self.debounce, self.max_delay, self.lock_wait = debounce, max_delay, lock_wait
        self._cond = threading.Condition()
        self._apply: dict[str, Any] | None = None
        self._drift = False
        self._stop = False
        self.busy = False
        self.thread = threading.Thread(target=self._loop, name="reconciler-worker", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self.thread.join(timeout)

    def request_apply(self, push: Push | None, reason: str) -> None:
        now = time.monotonic()
        with self._cond:
            if self._apply is None:
                self._apply = {"first": now, "count": 0, "reasons": []}
            self._apply["last"] = now
            self._apply["count"] += 1
            self._apply["after"] = push.after if push else self._apply.get("after")
            self._apply["reasons"].append(reason)
            self._cond.notify_all()

    def request_drift(self) -> None:
        with self._cond:
            self._drift = True
            self._cond.notify_all()

    @property
    def pending(self) -> bool:
        with self._cond:
            return self._apply is not None or self._drift

    def _take(self) -> tuple[str, dict[str, Any]] | None:
        with self._cond:
            while not self._stop and self._apply is None and not self._drift:
                self._cond.wait()
            if self._stop:
                return None
            if self._apply is not None:
                while not self._stop:
                    now = time.monotonic()
                    quiet_until = self._apply["last"] + self.debounce
                    latest = self._apply["first"] + self.max_delay
                    if now >= quiet_until or now >= latest:
                        break
                    self._cond.wait(min(quiet_until, latest) - now)
                job, self._apply = self._apply, None
                self.busy = True
                return "apply", job
            self._drift = False
            self.busy = True
            return "drift", {}

    def _loop(self) -> None:
        while True:
            item = self._take()
            if item is None:
                return
            kind, job = item
            try:
                if kind == "apply":
                    self.runner.reconcile("webhook" if "push" in job.get("reasons", []) else job["reasons"][-1],
                                          wait=self.lock_wait)
                else:
                    self.runner.drift("serve-timer", wait=self.lock_wait)
            except Exception as exc:  # the worker must survive anything a run throws
                self.runner.console.error(f"{kind} run crashed: {type(exc).__name__}: {exc}")
                try:
                    trigger_event(self.runner.cfg, "trigger_failed", trigger="serve", reason="crash",
                                  message=f"{type(exc).__name__}: {exc}")
                except OSError:
                    pass
            finally:
                with self._cond:
                    self.busy = False


class RejectLog:
    """Audit rejected webhooks, at most ``per_minute`` entries a minute (unauthenticated input must
    not be able to flood the audit log); the rest are counted into the next entry."""

    def __init__(self, cfg: Config, per_minute: int = 20) -> None:
        self.cfg, self.per_minute = cfg, per_minute
        self._window = 0.0
        self._count = 0
        self._suppressed = 0
        self._lock = threading.Lock()

    def log(self, **fields: Any) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._window >= 60:
                self._window, self._count = now, 0
            if self._count >= self.per_minute:
                self._suppressed += 1
                return
            self._count += 1
            suppressed, self._suppressed = self._suppressed, 0
        if suppressed:
            fields["suppressed_before"] = suppressed
        trigger_event(self.cfg, "webhook", **fields)


# ------------------------------------------------------------------------------------------ server
class Service:
    """Everything `serve` runs: HTTP server, worker, drift timer, status and metrics."""

    def __init__(self, cfg: Config, console: Console, settings: ServeSettings | None = None) -> None:
        self.cfg = cfg
        self.console = console
        self.settings = settings or ServeSettings.from_config(cfg)
        self.metrics = Metrics()
        self.history: collections.deque[Outcome] = collections.deque(maxlen=50)
        self.drift: dict[str, int] = {}
        self.drift_checked: float | None = None
        self.runner = Runner(cfg, console, listeners=[self._observe])
        if self.runner.source is None:
            raise UserError("serve needs a git: section (repository, branch) in the config")
        self.worker = Coordinator(self.runner, debounce=self.settings.debounce, max_delay=self.settings.max_delay,
                                  lock_wait=self.settings.lock_wait)
        self.rejects = RejectLog(cfg)
        self._seen: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._seen_lock = threading.Lock()
        self._stop = threading.Event()
        self.httpd = ThreadingHTTPServer((self.settings.host, self.settings.port), _handler(self))
        self.httpd.daemon_threads = True
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.worker.start()
        http_thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="reconciler-http", daemon=True)
        http_thread.start()
        self._threads.append(http_thread)
        if self.settings.drift_interval > 0:
            timer = threading.Thread(target=self._drift_timer, name="reconciler-drift", daemon=True)
            timer.start()
            self._threads.append(timer)
        if self.settings.reconcile_on_start:
            self.worker.request_apply(None, "serve-start")

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.worker.stop()
        for thread in self._threads:
            thread.join(5)

    def _drift_timer(self) -> None:
        while not self._stop.wait(self.settings.drift_interval):
            self.worker.request_drift()

    def _observe(self, outcome: Outcome) -> None:
        if outcome.kind == "apply" and outcome.status == "ok" and self.drift:
            # verified apply: live equals the commit now, so known drift is gone
            outcome.drift = dict.fromkeys(self.drift, 0)
            self.drift = dict(outcome.drift)
        self.history.appendleft(outcome)
        self.metrics.observe(outcome)
        if outcome.kind == "drift" and outcome.status in ("ok", "changes"):
            self.drift = dict(outcome.drift)
            self.drift_checked = time.time()
        self.console.note(f"serve: {outcome.headline()}")

    # ---------------------------------------------------------------------------------- webhooks
    def seen_before(self, delivery: str | None) -> bool:
        if not delivery:
            return False
        with self._seen_lock:
            if delivery in self._seen:
                return True
            self._seen[delivery] = time.time()
            while len(self._seen) > 10_000:
                self._seen.popitem(last=False)
        return False

    def handle_webhook(self, headers: Any, body: bytes, peer: str) -> tuple[int, dict[str, Any]]:
        try:
            delivery = authenticate(headers, body, self.settings.secret_bytes())
        except WebhookRefused as exc:
            self.metrics.webhooks.labels(exc.reason).inc()
            self.rejects.log(result="rejected", status=exc.status, reason=exc.reason, peer=peer, bytes=len(body))
            return exc.status, {"error": str(exc)}
        except SecretError as exc:
            self.console.error(str(exc))
            return 500, {"error": "the server cannot read its webhook secret; see its log"}
        base = {"forge": delivery.forge, "forge_event": delivery.event, "delivery": delivery.delivery, "peer": peer}
        if self.seen_before(delivery.delivery):
            self.metrics.webhooks.labels("duplicate").inc()
            trigger_event(self.cfg, "webhook", result="duplicate", **base)
            return 200, {"result": "duplicate", "message": f"delivery {delivery.delivery} was already received; "
                                                           "ignored"}
        try:
            kind, push = classify(delivery)
        except WebhookRefused as exc:
            self.metrics.webhooks.labels(exc.reason).inc()
            trigger_event(self.cfg, "webhook", result="rejected", status=exc.status, reason=exc.reason,
                          message=str(exc), **base)
            return exc.status, {"error": str(exc)}
        if kind == "ping" or push is None:
            self.metrics.webhooks.labels("ping").inc()
            return 200, {"result": "pong"}
        branch = self.runner.source.branch if self.runner.source else "main"
        fields = {**base, "ref": push.ref, "after": push.after, "pusher": push.pusher, "repository": push.repository}
        if push.branch != branch:
            self.metrics.webhooks.labels("other_ref").inc()
            trigger_event(self.cfg, "webhook", result="ignored", reason="other ref", **fields)
            return 202, {"result": "ignored", "message": f"{push.ref} is not the tracked branch {branch}; "
                                                         "nothing runs"}
        if push.deleted:
            self.metrics.webhooks.labels("branch_deleted").inc()
            message = (f"branch {branch} was deleted; deletion is never applied — the live systems keep the last "
                       "applied commit; nothing runs")
            trigger_event(self.cfg, "webhook", result="ignored", reason="branch deleted", message=message, **fields)
            return 200, {"result": "ignored", "message": message}
        self.metrics.webhooks.labels("accepted").inc()
        trigger_event(self.cfg, "webhook", result="accepted", **fields)
        self.worker.request_apply(push, "push")
        return 202, {"result": "accepted", "message": f"reconciling {branch} in the background",
                     "after": push.after}

    # ---------------------------------------------------------------------------------- pages
    def health(self) -> tuple[int, dict[str, Any]]:
        """Liveness plus what is deployed: the last commit applied completely. A later commit that was
        rejected, refused or failed is reported beside it (last_rejected …), never instead of it."""
        alive = self.worker.thread.is_alive()
        last = next((o for o in list(self.history) if o.status == "ok"), None)
        body: dict[str, Any] = {"status": "ok" if alive else "worker stopped", "busy": self.worker.busy,
                                "pending": self.worker.pending}
        body.update(self.runner.source.report() if self.runner.source else {"deployed": None})
        body["last_success"] = last.started if last else None
        return (200 if alive else 503), body

    def status_page(self) -> str:
        e = html.escape
        rows = []
        for o in list(self.history):  # a snapshot: the worker appends while we render
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(o.started))
            commit = o.commit.get("commit", "")[:12]
            rows.append(f"<tr class='{e(o.status)}'><td>{e(when)}</td><td>{e(o.kind)}</td><td>{e(o.trigger)}</td>"
                        f"<td><code>{e(commit)}</code></td><td>{e(str(o.commit.get('subject', '')))}</td>"
                        f"<td>{e(o.status)}</td><td>{o.duration:.2f}s</td>"
                        f"<td>{e(', '.join(f'{t}: {n}' for t, n in sorted(o.applied.items())))}</td>"
                        f"<td>{e(o.message)}</td></tr>")
        drift = "".join(f"<tr><td>{e(t)}</td><td>{n}</td></tr>" for t, n in sorted(self.drift.items()))
        checked = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.drift_checked))
                   if self.drift_checked else "not yet")
        from ..cli import format_entry

        tail = [format_entry(entry) for entry in audit_tail(self.cfg.audit_log, 25)]
        source = self.runner.source
        report = source.report() if source else {}
        deployed = report.get("deployed")
        since = [f"last {key.removeprefix('last_')} commit <code>{e(str(item.get('commit', ''))[:12])}</code> "
                 f"at {e(_when(item.get('at')))}" for key in ("last_rejected", "last_refused", "last_failed")
                 if (item := report.get(key)) and float(item.get("at") or 0) > float(report.get("deployed_at") or 0)]
        after = f"<br>after it: {'; '.join(since)} (not applied)" if since else ""
        return f"""<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<title>reconciler</title>
<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}}
.failed td,.refused td,.rejected td,.busy td{{background:#fdd}}.changes td{{background:#ffd}}
pre{{background:#f4f4f4;padding:.5em;overflow-x:auto}}</style></head><body>
<h1>reconciler</h1>
<p>tracking <code>{e(source.branch if source else '')}</code> of <code>{e(source.repository if source else '')}</code>;
deployed (last applied) commit <code>{e((deployed or 'none yet')[:12])}</code>{after}</p>
<h2>Last runs</h2>
<table><tr><th>started</th><th>kind</th><th>trigger</th><th>commit</th><th>subject</th><th>status</th>
<th>duration</th><th>applied</th><th>message</th></tr>
{''.join(rows) or '<tr><td colspan="9">no run yet</td></tr>'}</table>
<h2>Current drift</h2><p>last checked: {e(checked)}</p>
<table><tr><th>target</th><th>items</th></tr>{drift or '<tr><td colspan="2">none known</td></tr>'}</table>
<h2>Audit log (last {len(tail)} entries)</h2>
<pre>{e(chr(10).join(tail))}</pre>
</body></html>
"""


def _when(at: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(at)))
    except (TypeError, ValueError):
        return "?"


def audit_tail(path: Path, count: int) -> list[dict[str, Any]]:
    """The last ``count`` entries, reading only the end of the file (the log grows for years)."""
    size = log_size(path)
    window = 1 << 16
    while True:
        start = max(0, size - window)
        entries = entries_since(path, start)
        if start > 0:
            entries = entries[1:]  # the first line may be cut by the window
        if len(entries) >= count or start == 0:
            return entries[-count:]
        window *= 4


def _handler(service: Service) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "reconciler"
        sys_version = ""
        protocol_version = "HTTP/1.1"
        timeout = 15  # seconds a connection may idle; a client that never sends cannot hold a thread

        def log_message(self, format: str, *args: Any) -> None:
            return  # the audit log and the console carry what matters; no access log noise

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            if content_type.startswith("text/html"):
                self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, obj: dict[str, Any]) -> None:
            self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n",
                       "application/json; charset=utf-8")

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._json(*service.health())
            elif path == "/metrics":
                self._send(200, service.metrics.text(), CONTENT_TYPE_LATEST)
            elif path in ("/", "/status"):
                self._send(200, service.status_page().encode("utf-8"), "text/html; charset=utf-8")
            else:
                self._json(404, {"error": "not found"})

        do_HEAD = do_GET

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path != "/webhook":
                self._drain_or_close()
                self._json(404, {"error": "not found; push webhooks go to /webhook"})
                return
            length_text = self.headers.get("Content-Length")
            if length_text is None or not length_text.isdigit():
                self.close_connection = True
                self._json(411, {"error": "Content-Length required"})
                return
            length = int(length_text)
            if length > service.settings.max_body:
                self._too_large(length)
                self._discard(length)
                return
            body = self.rfile.read(length)
            try:
                status, answer = service.handle_webhook(self.headers, body, self.client_address[0])
            except Exception as exc:  # answer, and say why in the service's log, never in the reply
                service.console.error(f"webhook handling failed: {type(exc).__name__}: {exc}")
                status, answer = 500, {"error": "internal error; see the service log"}
            self._json(status, answer)

        def handle_expect_100(self) -> bool:
            # A client that asks first (Expect: 100-continue) never sends an oversized body at all.
            length_text = self.headers.get("Content-Length") or ""
            if self.command == "POST" and length_text.isdigit() and int(length_text) > service.settings.max_body:
                self._too_large(int(length_text))
                return False
            return super().handle_expect_100()

        def _too_large(self, length: int) -> None:
            self.close_connection = True
            service.metrics.webhooks.labels("too large").inc()
            service.rejects.log(result="rejected", status=413, reason="too large", peer=self.client_address[0],
                                bytes=length)
            self._json(413, {"error": f"body of {length} bytes is over the limit of {service.settings.max_body}; "
                                      "nothing runs"})

        def _discard(self, length: int) -> None:
            """Swallow (never keep) a bounded part of an oversized body so the client can read our 413
            instead of a connection reset; give up after DISCARD_LIMIT bytes or two seconds."""
            self.wfile.flush()
            self.connection.settimeout(2.0)
            left = min(length, DISCARD_LIMIT)
            try:
                while left > 0:
                    chunk = self.rfile.read1(min(left, 1 << 16)) if hasattr(self.rfile, "read1") else b""
                    if not chunk:
                        break
                    left -= len(chunk)
            except OSError:
                pass

        def _drain_or_close(self) -> None:
            length_text = self.headers.get("Content-Length") or "0"
            length = int(length_text) if length_text.isdigit() else 0
            if 0 < length <= service.settings.max_body:
                self.rfile.read(length)
            elif length:
                self.close_connection = True

    return Handler


def _duration(seconds: float) -> str:
    """3600 → "1h", 90 → "1m30s", 0.5 → "0.5s": for the start-up line."""
    if seconds < 60:
        return f"{seconds:g}s"
    whole = round(seconds)
    parts = [(whole // 3600, "h"), (whole % 3600 // 60, "m"), (whole % 60, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n)


def run_serve(cfg: Config, console: Console, *, until: Callable[[], bool] | None = None) -> int:
    service = Service(cfg, console)
    stopping = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        stopping.set()  # podman stop / systemctl stop: finish the current run, then leave

    previous = signal.signal(signal.SIGTERM, on_term) if threading.current_thread() is threading.main_thread() \
        else None
    service.start()
    interval = service.settings.drift_interval
    drift = f"drift check every {_duration(interval)}" if interval > 0 else "periodic drift check off"
    console.note(f"serve: listening on {service.url} (POST /webhook, GET /healthz /metrics /); tracking "
                 f"{service.runner.source.branch if service.runner.source else '?'}; {drift}")
    try:
        while not stopping.is_set() and (until is None or not until()):
            stopping.wait(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        console.note("serve: stopping (waiting for a run in progress to finish)")
        service.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
