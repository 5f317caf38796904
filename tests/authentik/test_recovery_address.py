"""A recovery email for an account reconciler did not create goes only to the address the account
already had in Authentik (guards.recovery_refusal): never in the run that changes the address, nor in a
later run while the address is still the one reconciler wrote. Nothing is sent for a refused change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import plan as planmod
from reconciler.desired.loader import load
from reconciler.model.resource import Resource
from reconciler.providers.authentik import AuthentikProvider
from reconciler.providers.authentik.guards import EMAIL_SET
from reconciler.providers.base import Scope
from tests.authentik.support import Env, desired_tree, lab_env, load_desired

WRITES = ("POST ", "PATCH ", "PUT ", "DELETE ")


@pytest.fixture(params=("2025.10.4", "2026.2.7"))
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    with lab_env(tmp_path, request.param) as e:
        yield e


def tsha(email: str, enrollment: str | None) -> str:
    lines = ["groups:", "  - name: mail-users", "users:", "  - username: tsha", "    name: 하태수",
             f"    email: {email}", "    groups: [mail-users]"]
    if enrollment:
        lines.append(f"    enrollment: {{method: {enrollment}}}")
    return "\n".join(lines) + "\n"


def desired(env: Env, text: str) -> list[Resource]:
    return load_desired(env.tmp / "d", text).of_kind("authentik")


def plan(provider: AuthentikProvider, res: list[Resource]) -> list[planmod.Change]:
    live = provider.read(Scope(desired=res))
    return planmod.diff_target(provider, res, live, provider.target.policies)[0]


def writes(env: Env) -> list[str]:
    return sorted(k for k in env.lab.control.counter if k.startswith(WRITES))


ADVICE = ("a recovery email for an account reconciler did not create goes only to the address it already had in "
          "Authentik. Use enrollment: recovery_link (the link goes to the operator, who hands it over in person) "
          "or initial_password, or remove the enrollment and let an Authentik administrator send the recovery "
          "email after checking the address")


def test_new_address_and_recovery_email_in_one_change_is_refused(env: Env) -> None:
    provider = env.provider()
    changes = plan(provider, desired(env, tsha("attacker@namgun.or.kr", "recovery_email")))
    assert [(c.ident, sorted(c.fields)) for c in changes] == [("authentik.user tsha", ["email", "enrollment"])]
    env.lab.control.reset_counters()
    assert list(provider.check(changes).values()) == [
        "authentik.user tsha: enrollment recovery_email refused: the same change sets a new email address "
        f"(tsha@namgun.or.kr → attacker@namgun.or.kr) that nobody has verified; {ADVICE}"]
    [result] = provider.apply(changes)  # and the Applier, asked anyway, sends nothing
    assert result.skipped and not result.ok
    user = env.lab.store.user_by_username("tsha")
    assert user is not None and user.email == "tsha@namgun.or.kr"
    assert env.lab.store.outbox == [] and writes(env) == []


def test_address_written_by_reconciler_never_gets_a_recovery_email(env: Env) -> None:
    """The two-commit way round the first rule: change the address, then ask for the email."""
    provider = env.provider()
    store = env.lab.store
    user = store.user_by_username("tsha")
    assert user is not None
    # commit 1: the address alone; it applies and reconciler notes that it wrote it
    changes = plan(provider, desired(env, tsha("tsha.kim@namgun.or.kr", None)))
    assert provider.check(changes) == {}
    assert all(r.ok for r in provider.apply(changes))
    assert user.email == "tsha.kim@namgun.or.kr" and user.attributes[EMAIL_SET]["address"] == "tsha.kim@namgun.or.kr"
    # commit 2: recovery_email → refused, nothing sent
    changes = plan(provider, desired(env, tsha("tsha.kim@namgun.or.kr", "recovery_email")))
    env.lab.control.reset_counters()
    assert list(provider.check(changes).values()) == [
        "authentik.user tsha: enrollment recovery_email refused: the address tsha.kim@namgun.or.kr was set by "
        f"reconciler, not by the person or an Authentik administrator; {ADVICE}"]
    assert store.outbox == [] and writes(env) == []
    # the way the message offers: a recovery link handed to the operator
    changes = plan(provider, desired(env, tsha("tsha.kim@namgun.or.kr", "recovery_link")))
    assert provider.check(changes) == {}
    assert all(r.ok for r in provider.apply(changes))
    assert store.outbox == [] and len(list(env.link_dir.iterdir())) == 1


def test_address_an_administrator_set_by_hand_gets_the_email(env: Env) -> None:
    provider = env.provider()
    store = env.lab.store
    user = store.user_by_username("tsha")
    assert user is not None
    assert all(r.ok for r in provider.apply(plan(provider, desired(env, tsha("tsha.kim@namgun.or.kr", None)))))
    user.email = "tsha.ha@namgun.or.kr"  # an administrator checked it with the person and fixed it in Authentik
    res = desired(env, tsha("tsha.ha@namgun.or.kr", "recovery_email"))
    changes = plan(provider, res)
    assert [(c.ident, c.fields) for c in changes] == [("authentik.user tsha", ["enrollment"])]
    assert provider.check(changes) == {}
    assert all(r.ok for r in provider.apply(changes))
    assert [m.to for m in store.outbox] == ["tsha.ha@namgun.or.kr"]


def test_recovery_link_with_a_new_address_is_allowed(env: Env) -> None:
    """The link goes to the operator, not to the new address."""
    provider = env.provider()
    changes = plan(provider, desired(env, tsha("tsha.kim@namgun.or.kr", "recovery_link")))
    assert provider.check(changes) == {}
    assert all(r.ok for r in provider.apply(changes))
    assert env.lab.store.outbox == [] and len(list(env.link_dir.iterdir())) == 1


def test_unchanged_address_of_an_adopted_user_gets_the_email(env: Env) -> None:
    provider = env.provider()
    changes = plan(provider, desired(env, tsha("tsha@namgun.or.kr", "recovery_email")))
    assert provider.check(changes) == {}
    assert all(r.ok for r in provider.apply(changes))
    assert [m.to for m in env.lab.store.outbox] == ["tsha@namgun.or.kr"]


def test_git_cannot_write_the_record(tmp_path: Path) -> None:
    text = tsha("tsha@namgun.or.kr", None) + f"    attributes: {{{EMAIL_SET}: {{address: x@namgun.or.kr}}}}\n"
    state = load(desired_tree(tmp_path, text), check_secrets=False)
    assert not state.ok
    assert any(f"attribute {EMAIL_SET!r} is reserved" in str(d) for d in state.diagnostics.errors)


def test_moving_the_address_of_a_person_not_created_by_reconciler_carries_a_warning(env: Env) -> None:
    """The move itself is allowed (people change addresses), but Authentik's own password reset would
    then mail the new address, so the plan says so where a reviewer reads it."""
    provider = env.provider()
    [change] = plan(provider, desired(env, tsha("tsha.new@namgun.or.kr", None)))
    assert provider.check([change]) == {}
    assert any("password reset will mail the new address" in w for w in change.warnings)
