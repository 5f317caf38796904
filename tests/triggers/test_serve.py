"""`reconciler serve` with real signed HTTP webhooks on 127.0.0.1 and real git pushes."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.runs import Console
from reconciler.triggers.serve import Service
from tests.triggers import filedns
from tests.triggers.conftest import ZONE, World, git, wait_for, with_record

SECRET = "웹훅-비밀-7f3a9c"  # non-ASCII on purpose: the secret is UTF-8 bytes on both sides


# ------------------------------------------------------------------------------------------ helpers
class Receiver:
    """A loopback endpoint that records what the notifier posts to it."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/notify"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def serve_config(world: World, *, drift_interval: float = 0, notify_url: str | None = None,
                 max_body: int = 65536, debounce: float = 0.4, max_delay: float = 5.0) -> None:
    secret_file = world.root / "webhook-secret"
    secret_file.write_text(SECRET + "\n", "utf-8")
    secret_file.chmod(0o600)
    world.set_config(serve=f"""
        listen: 127.0.0.1:0
        secret: file:{secret_file}
        debounce: {debounce}
        max_delay: {max_delay}
        max_body: {max_body}
        drift_interval: {drift_interval}
        reconcile_on_start: false
        """)
    if notify_url:
        world.set_config(notify=f"webhook: {{url: {notify_url}}}")


@pytest.fixture
def started(world: World) -> Iterator[list[Service]]:
    services: list[Service] = []
    yield services
    for service in services:
        service.stop()


def start(world: World, started: list[Service]) -> tuple[Service, io.StringIO]:
    err = io.StringIO()
    service = Service(world.config(), Console(out=io.StringIO(), err=err))
    service.start()
    started.append(service)
    return service, err


def payload(world: World, after: str, *, ref: str = "refs/heads/main", before: str | None = None,
            forge: str = "gitea") -> dict[str, Any]:
    body: dict[str, Any] = {"ref": ref, "before": before or "0" * 40, "after": after,
                            "repository": {"full_name": "namgun/infra"}}
    if forge == "gitlab":
        body.update({"object_kind": "push", "checkout_sha": None if after == "0" * 40 else after,
                     "user_username": "kgb", "project": {"path_with_namespace": "namgun/infra"}})
        body.pop("repository")
    else:
        body["pusher"] = {"login": "kgb", "username": "kgb"}
    return body


def sign_headers(forge: str, body: bytes, *, secret: str = SECRET, event: str | None = None,
                 delivery: str | None = None) -> dict[str, Any]:
    key = secret.encode("utf-8")
    sig = hmac.new(key, body, hashlib.sha256).hexdigest()
    delivery = delivery or str(uuid.uuid4())
    if forge == "gitea":
        return {"X-Gitea-Event": event or "push", "X-Gitea-Delivery": delivery, "X-Gitea-Signature": sig}
    if forge == "forgejo":  # Forgejo sends its own headers and the Gitea ones (forgejo.org/docs … webhooks)
        return {"X-Forgejo-Event": event or "push", "X-Forgejo-Delivery": delivery, "X-Forgejo-Signature": sig,
                "X-Gitea-Event": event or "push", "X-Gitea-Delivery": delivery, "X-Gitea-Signature": sig}
    if forge == "github":
        return {"X-GitHub-Event": event or "push", "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": "sha256=" + sig}
    if forge == "gitlab":
        # GitLab sends the token itself; http.client passes bytes through unchanged
        return {"X-Gitlab-Event": event or "Push Hook", "X-Gitlab-Event-UUID": delivery,
                "X-Gitlab-Token": secret.encode("utf-8")}
    raise AssertionError(forge)


def post(service: Service, body: bytes, headers: dict[str, Any], path: str = "/webhook"
         ) -> tuple[int, dict[str, Any]]:
    host, port = service.address
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else {}
    finally:
        conn.close()


def get(service: Service, path: str) -> tuple[int, str, str]:
    host, port = service.address
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode("utf-8")
    finally:
        conn.close()


def send_push(service: Service, world: World, after: str, forge: str = "gitea", **kw: Any
              ) -> tuple[int, dict[str, Any]]:
    body = json.dumps(payload(world, after, forge=forge, **kw)).encode()
    return post(service, body, sign_headers(forge, body))


def idle(service: Service, settle: float = 1.0) -> None:
    """Wait until the worker has nothing queued or running, and stays so for ``settle`` seconds."""
    deadline = time.monotonic() + 30
    quiet_since = None
    while time.monotonic() < deadline:
        if service.worker.pending or service.worker.busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            return
        time.sleep(0.05)
    raise AssertionError("worker did not become idle")


def runs_of(world: World) -> list[dict[str, Any]]:
    return world.events("run_start")


# ------------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("forge", ["gitea", "forgejo", "github", "gitlab"])
def test_a_signed_push_answers_202_and_applies_in_the_background(world: World, started: list[Service],
                                                                 forge: str) -> None:
    serve_config(world)
    service, _ = start(world, started)
    sha = world.commit(f"{forge}: www 변경", records=with_record("www", "192.0.2.81"))
    world.push()
    status, answer = send_push(service, world, sha, forge=forge)
    assert status == 202 and answer["result"] == "accepted"
    wait_for(lambda: world.live_value("www") == ["192.0.2.81"])
    idle(service)
    starts = runs_of(world)
    assert len(starts) == 1 and starts[0]["trigger"] == "webhook" and starts[0]["source"]["commit"] == sha
    accepted = [e for e in world.events("webhook") if e["result"] == "accepted"]
    assert accepted[-1]["forge"] == forge and accepted[-1]["after"] == sha


def test_wrong_missing_or_mismatched_signatures_are_401_and_nothing_runs(world: World,
                                                                         started: list[Service]) -> None:
    serve_config(world)
    service, _ = start(world, started)
    sha = world.commit("www", records=with_record("www", "192.0.2.81"))
    world.push()
    body = json.dumps(payload(world, sha)).encode()
    other = json.dumps(payload(world, sha, ref="refs/heads/main ")).encode()
    cases = {
        "wrong secret": sign_headers("gitea", body, secret="not-the-secret"),
        "github wrong secret": sign_headers("github", body, secret="not-the-secret"),
        "gitlab wrong token": sign_headers("gitlab", body, secret="not-the-secret"),
        "signature over a different body": sign_headers("gitea", other),
        "missing": {"X-Gitea-Event": "push", "X-Gitea-Delivery": "d-1"},
        "github without sha256= prefix": {**sign_headers("github", body), "X-Hub-Signature-256":
                                          hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()},
        # a bad Forgejo signature is not rescued by a good Gitea one
        "forgejo bad, gitea good": {**sign_headers("forgejo", body), "X-Forgejo-Signature": "00" * 32},
    }
    for name, headers in cases.items():
        status, answer = post(service, body, headers)
        assert status == 401, name
        assert "nothing runs" in answer["error"], name
    idle(service)
    assert runs_of(world) == [] and world.live_value("www") == ["192.0.2.80"]
    rejected = [e for e in world.events("webhook") if e["result"] == "rejected"]
    assert len(rejected) == len(cases) and {e["status"] for e in rejected} == {401}
    assert SECRET not in world.audit().path.read_text("utf-8")


def test_a_replayed_delivery_is_dropped_and_an_old_push_cannot_roll_back(world: World,
                                                                         started: list[Service]) -> None:
    serve_config(world)
    service, _ = start(world, started)
    old = world.commit("www 1", records=with_record("www", "192.0.2.81"))
    world.push()
    body = json.dumps(payload(world, old)).encode()
    headers = sign_headers("gitea", body, delivery="delivery-1")
    assert post(service, body, headers)[0] == 202
    wait_for(lambda: world.live_value("www") == ["192.0.2.81"])
    idle(service)
    status, answer = post(service, body, headers)  # the same delivery again
    assert status == 200 and answer["result"] == "duplicate"
    idle(service)
    assert len(runs_of(world)) == 1
    # newer commit applied, then the captured old body replayed under a fresh delivery id (the id is
    # not signed): it only prompts a fetch, and the branch tip is what gets applied
    new = world.commit("www 2", records=with_record("www", "192.0.2.82"))
    world.push()
    assert send_push(service, world, new)[0] == 202
    wait_for(lambda: world.live_value("www") == ["192.0.2.82"])
    idle(service)
    assert post(service, body, sign_headers("gitea", body, delivery="delivery-forged"))[0] == 202
    idle(service)
    assert world.live_value("www") == ["192.0.2.82"]
    last = runs_of(world)[-1]
    assert last["source"]["commit"] == new
    assert not [e for e in world.events("change_intended") if e["run"] == last["run"]]


def test_oversized_other_branch_deletion_non_json_unknown_event(world: World, started: list[Service]) -> None:
    serve_config(world, max_body=4096)
    service, _ = start(world, started)
    sha = world.head()
    big = json.dumps({**payload(world, sha), "padding": "가" * 20000}).encode()
    status, answer = post(service, big, sign_headers("gitea", big))
    assert status == 413 and "over the limit" in answer["error"]
    status, answer = send_push(service, world, sha, ref="refs/heads/topic")
    assert status == 202 and answer["result"] == "ignored" and "not the tracked branch" in answer["message"]
    status, answer = send_push(service, world, "0" * 40, forge="github")
    assert status == 200 and "deletion is never applied" in answer["message"]
    status, answer = send_push(service, world, "0" * 40, forge="gitlab")
    assert status == 200 and "deletion is never applied" in answer["message"]
    gone = json.dumps({"ref": "main", "ref_type": "branch", "repository": {"full_name": "namgun/infra"}}).encode()
    status, answer = post(service, gone, sign_headers("gitea", gone, event="delete"))
    assert status == 200 and "deletion is never applied" in answer["message"]
    text = "이것은 JSON이 아닙니다".encode()
    status, answer = post(service, text, sign_headers("gitea", text))
    assert status == 400 and "not JSON" in answer["error"]
    issue = json.dumps({"action": "opened"}).encode()
    status, answer = post(service, issue, sign_headers("github", issue, event="issues"))
    assert status == 400 and "'issues' is not handled" in answer["error"]
    ping = json.dumps({"zen": "Keep it logically awesome."}).encode()
    assert post(service, ping, sign_headers("github", ping, event="ping")) == (200, {"result": "pong"})
    idle(service)
    assert runs_of(world) == []
    hooks = world.events("webhook")
    reasons = [(e["result"], e.get("reason")) for e in hooks]
    assert ("rejected", "too large") in reasons and ("ignored", "other ref") in reasons
    assert reasons.count(("ignored", "branch deleted")) == 3
    assert ("rejected", "not json") in reasons and ("rejected", "unknown event") in reasons
    assert world.audit().verify().ok


def test_a_burst_of_ten_pushes_becomes_one_run_of_the_newest_commit(world: World, started: list[Service]) -> None:
    # a quiet time longer than any gap between two pushes on a busy machine, so the burst is one burst
    serve_config(world, debounce=2.0, max_delay=60)
    service, _ = start(world, started)
    shas = []
    for i in range(10):
        sha = world.commit(f"버스트 {i}", records=with_record("www", f"192.0.2.{100 + i}"))
        world.push()
        shas.append(sha)
        assert send_push(service, world, sha)[0] == 202
    wait_for(lambda: world.live_value("www") == ["192.0.2.109"])
    idle(service)
    starts = runs_of(world)
    assert len(starts) == 1, [s["source"].get("commit") for s in starts]
    assert starts[0]["source"]["commit"] == shas[-1]
    assert len([e for e in world.events("webhook") if e["result"] == "accepted"]) == 10


def test_metrics_health_and_status_page(world: World, started: list[Service]) -> None:
    serve_config(world)
    service, _ = start(world, started)
    sha = world.commit("<script>alert('남근')</script> www", records=with_record("www", "192.0.2.81"))
    world.push()
    send_push(service, world, sha)
    wait_for(lambda: world.live_value("www") == ["192.0.2.81"])
    idle(service)
    status, ctype, text = get(service, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    assert 'reconciler_runs_total{kind="apply",status="ok"} 1.0' in text
    assert 'reconciler_changes_applied_total{target="dns"} 1.0' in text
    assert 'reconciler_last_success_timestamp_seconds{kind="apply"}' in text
    assert 'reconciler_run_duration_seconds_count{kind="apply"} 1.0' in text
    assert 'reconciler_webhook_requests_total{result="accepted"} 1.0' in text
    status, _, health = get(service, "/healthz")
    assert status == 200 and json.loads(health)["status"] == "ok" and json.loads(health)["deployed"] == sha
    status, ctype, page = get(service, "/")
    assert status == 200 and ctype.startswith("text/html")
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;남근&#x27;)&lt;/script&gt;" in page
    assert sha[:12] in page and "change_result" in page  # last runs and the audit tail
    assert get(service, "/nope")[0] == 404


def test_periodic_drift_is_measured_exported_and_notified(world: World, started: list[Service],
                                                          receiver: Receiver) -> None:
    serve_config(world, drift_interval=0.5, notify_url=receiver.url)
    service, _ = start(world, started)
    sha = world.head()
    send_push(service, world, sha)
    wait_for(lambda: [e for e in world.events("run_end") if e["status"] == "ok"])
    # somebody changes the live system by hand
    with filedns.locked(world.state) as live:
        live[f"{ZONE}/www/A"] = {"ttl": 3600, "values": ["203.0.113.66"]}
    wait_for(lambda: 'reconciler_drift_items{target="dns"} 1.0' in get(service, "/metrics")[2], timeout=20)
    drift = [e for e in world.events("drift") if e["items"]]
    assert drift and drift[-1]["target"] == "dns" and drift[-1]["changes"][0]["resource"].endswith("www/A")
    run_start = next(e for e in world.events("run_start") if e["run"] == drift[-1]["run"])
    assert run_start["trigger"] == "serve-timer"  # named by serve itself, not a default
    wait_for(lambda: receiver.posts, timeout=20)
    note = json.loads(receiver.posts[0][1])
    assert note["event"] == "drift" and note["outcome"]["drift"] == {"dns": 1}
    assert "drift on dns" in note["subject"] and note["outcome"]["commit"]["commit"] == sha
    assert world.live_value("www") == ["203.0.113.66"]  # drift is reported, never applied by the check
    page = get(service, "/")[2]
    assert "<td>dns</td><td>1</td>" in page


def test_a_crashing_run_in_serve_fails_cleanly_and_the_next_push_converges(world: World, started: list[Service],
                                                                            receiver: Receiver,
                                                                            monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path: Path) -> None:
    marker = tmp_path / "crash-once"
    marker.write_text("1")
    monkeypatch.setenv("FILEDNS_CRASH_ONCE", str(marker))
    serve_config(world, notify_url=receiver.url)
    service, _ = start(world, started)
    sha = world.commit("www", records=with_record("www", "192.0.2.81"))
    world.push()
    send_push(service, world, sha)
    wait_for(lambda: [e for e in world.events("run_end") if e["status"] == "failed"])
    idle(service)
    assert world.live_value("www") == ["192.0.2.80"]
    wait_for(lambda: receiver.posts)
    assert json.loads(receiver.posts[0][1])["event"] == "failed"
    sha2 = world.commit("다시", records=with_record("www", "192.0.2.81"))
    git("commit", "-q", "--allow-empty", "-m", "빈 커밋", cwd=world.work)
    world.push()
    send_push(service, world, world.head())
    wait_for(lambda: world.live_value("www") == ["192.0.2.81"])
    idle(service)
    assert world.audit().verify().ok
    assert sha2  # a second commit was needed only to make a distinct push; the tip is what applied
    assert 'reconciler_runs_total{kind="apply",status="failed"} 1.0' in get(service, "/metrics")[2]


def test_health_reports_the_applied_commit_and_a_rejected_push_beside_it(world: World,
                                                                         started: list[Service]) -> None:
    serve_config(world)
    service, _ = start(world, started)
    good = world.commit("www", records=with_record("www", "192.0.2.81"))
    world.push()
    send_push(service, world, good)
    wait_for(lambda: world.live_value("www") == ["192.0.2.81"])
    idle(service)
    bad = world.commit("깨진 파일", {"desired/dns/lab.namgun.or.kr.yaml": "records:\n  x: {type: A, value: 1.2.3}\n"})
    world.push()
    send_push(service, world, bad)
    wait_for(lambda: world.events("commit_rejected"))
    idle(service)
    status, _, text = get(service, "/healthz")
    health = json.loads(text)
    assert status == 200 and health["deployed"] == good and health["deployed_by"] == "webhook"
    assert health["last_rejected"]["commit"] == bad and health["last_rejected"]["trigger"] == "webhook"
    assert health["fetched"]["commit"] == bad and health["last_refused"] is None
    page = get(service, "/")[2]
    assert f"deployed (last applied) commit <code>{good[:12]}</code>" in page
    assert f"last rejected commit <code>{bad[:12]}</code>" in page and "(not applied)" in page
    # a drift check compares with the deployed commit, not the rejected tip
    service.worker.request_drift()
    wait_for(lambda: world.events("drift"))
    idle(service)
    run_start = next(e for e in world.events("run_start") if e["command"] == "drift")
    assert run_start["source"]["commit"] == good
    assert 'reconciler_drift_items{target="dns"} 0.0' in get(service, "/metrics")[2]


def test_serve_says_when_the_periodic_drift_check_is_off(world: World) -> None:
    from reconciler.triggers.serve import run_serve

    err = io.StringIO()
    for interval, expected in ((0, "periodic drift check off"), (3600, "drift check every 1h"),
                               (90, "drift check every 1m30s")):
        serve_config(world, drift_interval=interval)
        assert run_serve(world.config(), Console(out=io.StringIO(), err=err), until=lambda: True) == 0
        line = next(x for x in err.getvalue().splitlines()[::-1] if x.startswith("serve: listening"))
        assert line.endswith(expected), line
    assert "every 0s" not in err.getvalue()
