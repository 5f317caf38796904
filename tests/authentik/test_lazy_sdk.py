"""authentik-client (~1,000 pydantic models, seconds to import) is imported on the first read or
write, not when the provider package is imported or the provider is built: the engine builds every
target's provider up front (Engine.assign asks each one ``serves``), so ``diff --target mail`` must
not pay for it (reconciler/providers/authentik/_sdk.py).

Each check runs in a fresh interpreter: in this one, other tests have long since imported the client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.authentik.support import TODAY, desired_tree, lab_env

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, *args: str) -> dict[str, object]:
    """Run ``code`` in a new interpreter (from the repository root, so ``tests`` imports); it prints JSON."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert proc.returncode == 0, proc.stderr
    answer: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return answer


def test_building_the_provider_does_not_import_the_client_and_a_read_does(tmp_path: Path) -> None:
    with lab_env(tmp_path, "2026.2.7") as env:
        answer = run_python("""
            import json, sys
            from reconciler.config import Target
            from reconciler.model.resource import Resource
            from reconciler.providers import base
            import reconciler.providers.authentik
            from reconciler.providers.base import Scope

            target = Target("sso", "authentik", json.loads(sys.argv[1]), {}, "test")
            provider = base.create(target)
            user = Resource("authentik.user", ("namgun18",), {"name": "남근"})
            rrset = Resource("dns.rrset", ("namgun.or.kr", "@", "A"), {"ttl": 300, "values": ["192.0.2.1"]})
            serves = [provider.serves(user), provider.serves(rrset)]
            before = "authentik_client" in sys.modules
            live = provider.read(Scope(desired=[]))
            after = "authentik_client" in sys.modules
            provider.close()
            print(json.dumps({"serves": serves, "before": before, "after": after, "facts": live.facts,
                              "users": sorted(k[0] for kind, k in live.resources if kind == "authentik.user"),
                              "names": sorted(r.data["name"] for r in live.resources.values()
                                              if r.kind == "authentik.user")},
                             ensure_ascii=False))
            """, json.dumps(env.target().options))
    assert answer["serves"] == [True, False]
    assert answer["before"] is False  # imported, built and asked serves(): no authentik-client yet
    assert answer["after"] is True  # the read went through authentik-client
    assert answer["facts"] == {"api": "2025.12+", "users": 8, "groups": 2}
    assert "namgun18" in answer["users"] and "kkb" in answer["users"]  # type: ignore[operator]
    assert "김경본" in answer["names"]  # type: ignore[operator]  # UTF-8 through the client and back


def test_diff_of_another_target_never_imports_the_client(tmp_path: Path) -> None:
    """The reported case: `reconciler diff --target <not authentik>` with an Authentik target configured."""
    with lab_env(tmp_path, "2025.10.4") as env:
        desired_tree(tmp_path, TODAY)
        config = {"desired": "desired", "state_dir": "state",
                  "targets": {"sso": {"kind": "authentik", **env.target().options},
                              "dns": {"kind": "rfc2136", "server": "127.0.0.1", "zones": ["namgun.or.kr"]}}}
        path = tmp_path / "reconciler.yaml"
        path.write_text(json.dumps(config, ensure_ascii=False), "utf-8")
        env.lab.control.reset_counters()
        answer = run_python("""
            import json, sys
            from reconciler.providers import base
            base.REGISTRY["rfc2136"] = "tests.authentik.dns_mirror:create"
            from reconciler.cli import main
            code = main(["-c", sys.argv[1], "--no-color", "-q", "diff", "--target", "dns"])
            print(json.dumps({"code": code, "loaded": "authentik_client" in sys.modules}))
            """, str(path))
        requests = env.lab.control.total
    assert answer == {"code": 0, "loaded": False}
    assert requests == 0  # and Authentik was not contacted


def test_first_use_from_many_threads_gives_one_module() -> None:
    answer = run_python("""
        import json
        from concurrent.futures import ThreadPoolExecutor
        from reconciler.providers.authentik import _sdk
        first = _sdk.loaded()
        with ThreadPoolExecutor(max_workers=8) as pool:
            modules = list(pool.map(lambda _: _sdk.ak(), range(8)))
        print(json.dumps({"first": first, "same": len({id(m) for m in modules}),
                          "name": modules[0].__name__, "exc": _sdk.api_exception().__name__,
                          "invalid": _sdk.validation_error().__name__}))
        """)
    assert answer == {"first": False, "same": 1, "name": "authentik_client", "exc": "ApiException",
                      "invalid": "ValidationError"}


def test_unused_provider_closes_without_importing(tmp_path: Path) -> None:
    with lab_env(tmp_path) as env:
        answer = run_python("""
            import json, sys
            from reconciler.config import Target
            from reconciler.providers.authentik import create
            provider = create(Target("sso", "authentik", json.loads(sys.argv[1]), {}, "test"))
            provider.close()
            print(json.dumps({"loaded": "authentik_client" in sys.modules}))
            """, json.dumps(env.target().options))
    assert answer == {"loaded": False}
