"""The Authentik lab driven by the real ``authentik-client`` (2026.8.5): every answer must parse the
way the client parses a real server's (authentik-api.md §1; authentik-observed.md §13)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import authentik_client as ak
import pydantic
import pytest
from authentik_client.exceptions import BadRequestException, ForbiddenException, NotFoundException

from tests.lab.authentik_support import VERSIONS, Running, running


@pytest.fixture(params=VERSIONS)
def env(request: pytest.FixtureRequest) -> Iterator[Running]:
    with running(request.param) as r:
        yield r


def test_list_parses_with_pagination_and_autocomplete(env: Running) -> None:
    page = env.api().core_users_list()
    assert isinstance(page, ak.PaginatedUserList)
    assert page.pagination.next == 0 and page.pagination.previous == 0  # ints, never None
    assert page.pagination.count == len(page.results) == 8
    assert page.autocomplete["current_model"] == "authentik_core.user"
    names = [u.username for u in page.results]
    assert names == sorted(names)  # default ordering: username
    by_name = {u.username: u for u in page.results}
    assert by_name["kkb"].name == "김경본"  # Hangul round trip through the real client
    assert by_name["administrator"].is_superuser is True
    assert by_name["ak-outpost-ldap"].type == ak.UserTypeEnum.INTERNAL_SERVICE_ACCOUNT
    assert by_name["namgun18"].groups_obj[0].name == "mail-users"


def test_default_and_maximum_page_size_follow_the_version(env: Running) -> None:
    api = env.api()
    for i in range(250):
        env.lab.store.new_user(f"bulk{i:03d}", f"사용자 {i}")
    total = 258
    default = api.core_users_list()
    big = api.core_users_list(page_size=1000)
    if env.lab.store.version.name.startswith("2025.10"):
        # authentik-observed.md §1: default 100, no maximum
        assert len(default.results) == 100 and default.pagination.total_pages == 3
        assert len(big.results) == total and big.pagination.next == 0
    else:
        # authentik-api.md §2.3: default 20, silently capped at 100
        assert len(default.results) == 20 and default.pagination.total_pages == 13
        assert len(big.results) == 100 and big.pagination.next == 2
    # following pagination.next until 0 sees everybody exactly once, whatever was served
    seen: list[str] = []
    page_no = 1
    while page_no:
        page = api.core_users_list(page=page_no, page_size=1000)
        seen += [u.username for u in page.results]
        page_no = int(page.pagination.next)
    assert len(seen) == len(set(seen)) == total


def test_create_patch_put_delete_round_trip(env: Running) -> None:
    api = env.api()
    mail = env.seed.mail_group
    created = api.core_users_create(ak.UserRequest(
        username="jdoe", name="정도윤", email="jdoe@example.org", groups=[mail],
        attributes={"reconciler.managed": True, "note": "첫"}))
    assert created.pk > 0 and created.type == ak.UserTypeEnum.INTERNAL and created.path == "users"
    assert created.groups == [mail] and created.attributes == {"reconciler.managed": True, "note": "첫"}
    patched = api.core_users_partial_update(created.pk, ak.PatchedUserRequest(attributes={"x": 1}))
    assert patched.attributes == {"x": 1}  # whole dict replaced (authentik-observed.md §5)
    assert patched.groups == [mail]  # PATCH leaves groups alone
    put = api.core_users_update(created.pk, ak.UserRequest(username="jdoe", name="정도윤"))
    assert put.groups == [] and put.attributes == {"x": 1}  # PUT resets groups only (§6)
    api.core_users_destroy(created.pk)
    with pytest.raises(NotFoundException) as err:
        api.core_users_retrieve(created.pk)
    assert err.value.data is None and '"No User matches the given query."' in err.value.body


def test_validation_error_parses_into_the_clients_model(env: Running) -> None:
    with pytest.raises(BadRequestException) as err:
        env.api().core_users_create(ak.UserRequest(username="namgun18", name="x"))
    data = err.value.data
    assert isinstance(data, ak.ValidationError)
    assert data.additional_properties == {"username": ["This field must be unique."]}


def test_forbidden_parses_into_generic_error(env: Running) -> None:
    with pytest.raises(ForbiddenException) as err:
        env.api("not-a-token").core_users_list()
    assert err.value.data == ak.GenericError(detail="Token invalid/expired")
    with pytest.raises(ForbiddenException) as err:
        env.api(env.seed.no_permission_token).core_users_list()
    assert err.value.data.detail == "You do not have permission to perform this action."


def test_set_password_and_recovery_link(env: Running) -> None:
    api = env.api()
    tsha = env.lab.store.user_by_username("tsha")
    assert tsha is not None
    before = api.core_users_retrieve(tsha.pk).password_change_date
    assert api.core_users_set_password_create(tsha.pk, ak.UserPasswordSetRequest(password="새 비밀번호 1")) is None
    after = api.core_users_retrieve(tsha.pk).password_change_date
    assert after > before
    assert env.lab.store.check_password("tsha", "새 비밀번호 1")
    link = api.core_users_recovery_create(tsha.pk)
    assert isinstance(link, ak.Link) and "/if/flow/default-recovery-flow/?flow_token=" in link.link
    assert api.core_users_recovery_create(tsha.pk).link == link.link  # same token on a repeat


def test_recovery_error_string_leaves_data_none(env: Running) -> None:
    env.lab.store.recovery_flow_slug = None
    with pytest.raises(BadRequestException) as err:
        env.api().core_users_recovery_create(1)
    # authentik-api.md §2.7: the string-valued non_field_errors does not fit the client's model
    assert err.value.data is None and err.value.body == '{"non_field_errors":"No recovery flow set."}'


def test_recovery_email_stage_moves_from_query_to_body(env: Running) -> None:
    """authentik-api.md §1.4: the 2026.8 client sends email_stage in the body; a ≤2025.12 server
    reads the query, so the same call fails there."""
    api = env.api()
    kkb = env.lab.store.user_by_username("kkb")
    assert kkb is not None
    request = ak.UserRecoveryEmailRequest(email_stage=env.seed.email_stage)
    if env.lab.store.version.recovery_email_stage_in_body:
        api.core_users_recovery_email_create(kkb.pk, request)
        assert env.lab.store.outbox[-1].to == kkb.email
    else:
        with pytest.raises(BadRequestException) as err:
            api.core_users_recovery_email_create(kkb.pk, request)
        assert err.value.body == '{"non_field_errors":"Email stage does not exist."}'
        assert env.lab.store.outbox == []


def test_groups_parse_and_membership_actions(env: Running) -> None:
    api = env.api()
    groups = api.core_groups_list(include_users=False)
    assert isinstance(groups, ak.PaginatedGroupList)
    mail = next(g for g in groups.results if g.name == "mail-users")
    assert mail.users_obj is None and len(mail.users or []) == 6  # seed.py: administrator is in it too
    assert mail.num_pk == int(str(mail.pk.int)[:5])
    new = api.core_groups_create(ak.GroupRequest(name="메일-운영", attributes={"k": "v"}))
    kkb = env.lab.store.user_by_username("kkb")
    assert kkb is not None
    api.core_groups_add_user_create(new.pk, ak.UserAccountRequest(pk=kkb.pk))
    api.core_groups_add_user_create(new.pk, ak.UserAccountRequest(pk=kkb.pk))  # idempotent
    assert api.core_groups_retrieve(new.pk).users == [kkb.pk]
    assert set(api.core_users_retrieve(kkb.pk).groups or []) == {env.seed.mail_group, new.pk}
    api.core_groups_remove_user_create(new.pk, ak.UserAccountRequest(pk=kkb.pk))
    assert api.core_groups_retrieve(new.pk).users == []
    with pytest.raises(NotFoundException):
        api.core_groups_add_user_create(new.pk, ak.UserAccountRequest(pk=999999))
    with pytest.raises(NotFoundException):
        api.core_groups_retrieve(uuid.uuid4())


def test_new_user_type_breaks_strict_parse_but_raw_read_survives(env: Running) -> None:
    """authentik-api.md §1.7: a value the client's enum does not know fails the whole page."""
    env.lab.store.user_by_username("olduser").type = "future_kind"  # type: ignore[union-attr]
    api = env.api()
    with pytest.raises(pydantic.ValidationError):
        api.core_users_list()
    raw = api.core_users_list_without_preload_content()
    assert raw.status == 200 and b'"future_kind"' in raw.data


def test_roles_fields_by_version(env: Running) -> None:
    raw = env.http("GET", "/core/users/?username=kkb").json()["results"][0]
    if env.lab.store.version.has_roles:
        assert raw["roles"] == [] and raw["roles_obj"] == []
    else:
        assert "roles" not in raw and "roles_obj" not in raw
    group = env.http("GET", f"/core/groups/{env.seed.mail_group}/").json()
    if env.lab.store.version.group_parents_many:
        assert group["parents"] == [] and "parent" not in group
    else:
        assert group["parent"] is None and group["parent_name"] is None and "parents" not in group
