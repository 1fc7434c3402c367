"""Invited users' logins and personal access tokens, driven through agixtsdk 0.0.82.

Contract: /work/shared/docs/reference/auth-billing.md sections 3 and 4 (the
`/v1/api-keys` routes), with the project's decided deviations (docs/compat.md).
The SDK has no methods for personal access tokens; a client posts the bodies
itself with the SDK's headers, and then uses a token value as the SDK's api_key.

One team is built per module (an admin, an invited user with role 3, an invited
reader with role 6, and an outsider with a company of their own); every test
creates the tokens it needs under a unique name.
"""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from agixtsdk import AGiXTSDK

from conftest import HTTP_TIMEOUT, PASSWORD, unique_email
from helpers import (
    ROLE_COMPANY_ADMIN,
    ROLE_READ_ONLY,
    ROLE_USER,
    _detail,
    _invite,
    _only_company,
    _url,
    build_team,
)

TOKEN_FIELDS = {
    "id",
    "name",
    "token",
    "token_prefix",
    "scopes",
    "agent_ids",
    "company_ids",
    "expires_at",
    "is_revoked",
    "last_used_at",
    "created_at",
}


def _token_name():
    return f"sdk-token-{uuid.uuid4().hex[:12]}"


def _create_token(base_url, sdk, scopes, name=None, expiration="30_days"):
    return requests.post(
        _url(base_url, "/v1/api-keys"),
        headers=sdk.headers,
        json={"name": name or _token_name(), "scopes": scopes, "expiration": expiration},
        timeout=HTTP_TIMEOUT,
    )


# `account:read` lets a token read its owner's profile (GET /v1/user, which the SDK's
# get_user calls); a token holds no scope it was not given.
def _new_token(base_url, sdk, scopes=("account:read", "users:read")):
    r = _create_token(base_url, sdk, list(scopes))
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def _get_user_raw(base_url, token):
    return requests.get(
        _url(base_url, "/v1/user"), headers={"Authorization": token}, timeout=HTTP_TIMEOUT
    )


def _parse_time(value):
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


@pytest.fixture(scope="module")
def team(base_url):
    # The invited members act through a session obtained by logging in.
    return build_team(base_url, login_invited=True)


# --- invited users log in ----------------------------------------------------------


def test_invited_users_log_in_and_see_admin_company(team):
    for member, role_id in ((team.user, ROLE_USER), (team.reader, ROLE_READ_ONLY)):
        sdk = AGiXTSDK(base_uri=team.base_url)
        token = sdk.login(member.email, PASSWORD)
        assert isinstance(token, str) and token, (member.email, token)
        assert sdk.headers.get("Authorization") == token

        user = sdk.get_user()
        assert user["id"] == member.user_id, user
        assert user["email"] == member.email, user
        companies = user["companies"]
        assert isinstance(companies, list) and len(companies) == 1, user
        assert companies[0]["id"] == team.company_id, (role_id, companies)
        assert companies[0]["role_id"] == role_id, (role_id, companies)

    assert _only_company(team.admin.sdk)["role_id"] == ROLE_COMPANY_ADMIN


# --- personal access tokens -----------------------------------------------------


def test_create_token_response_shape(team):
    name = _token_name()
    r = _create_token(team.base_url, team.admin.sdk, ["users:read"], name=name)
    assert r.status_code == 200, (r.status_code, r.text)
    tok = r.json()
    assert TOKEN_FIELDS <= set(tok), tok
    assert isinstance(tok["id"], str) and tok["id"], tok
    assert tok["name"] == name, tok
    value = tok["token"]
    assert isinstance(value, str) and value.startswith("agixt_") and len(value) == 70, tok
    assert tok["token_prefix"] == value[:16], tok
    assert tok["scopes"] == ["users:read"], tok
    assert tok["agent_ids"] == [], tok
    assert isinstance(tok["company_ids"], list), tok
    assert tok["is_revoked"] is False, tok
    assert tok["last_used_at"] is None, tok
    assert isinstance(tok["created_at"], str) and tok["created_at"], tok

    expires = _parse_time(tok["expires_at"])
    created = _parse_time(tok["created_at"])
    assert timedelta(days=29) < expires - created < timedelta(days=31), tok


def test_token_works_as_sdk_api_key(team):
    tok = _new_token(team.base_url, team.admin.sdk)
    sdk = AGiXTSDK(base_uri=team.base_url, api_key=tok["token"])
    user = sdk.get_user()
    assert user["id"] == team.admin.user_id, user
    assert user["email"] == team.admin.email, user


def test_token_scopes_limit_access(team):
    tok = _new_token(team.base_url, team.admin.sdk, ["users:read"])
    sdk = AGiXTSDK(base_uri=team.base_url, api_key=tok["token"])

    r = requests.get(_url(team.base_url, "/v1/invitations"), headers=sdk.headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, (r.status_code, r.text)
    assert isinstance(r.json()["invitations"], list), r.text

    r = _invite(team.base_url, sdk, unique_email(), team.company_id, ROLE_USER)
    assert r.status_code == 403, (r.status_code, r.text)
    assert "detail" in r.json(), r.text

    r = requests.get(_url(team.base_url, "/v1/roles"), headers=sdk.headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == 403, (r.status_code, r.text)
    assert _detail(r) == "Insufficient permissions. Required scope: roles:read", r.text

    # The owner's own session has roles:read.
    r = requests.get(
        _url(team.base_url, "/v1/roles"), headers=team.admin.sdk.headers, timeout=HTTP_TIMEOUT
    )
    assert r.status_code == 200, (r.status_code, r.text)


def test_list_tokens_hides_value(team):
    tok = _new_token(team.base_url, team.admin.sdk)
    r = requests.get(
        _url(team.base_url, "/v1/api-keys"), headers=team.admin.sdk.headers, timeout=HTTP_TIMEOUT
    )
    assert r.status_code == 200, (r.status_code, r.text)
    tokens = r.json()["tokens"]
    assert isinstance(tokens, list), r.text
    listed = {t["id"]: t for t in tokens}
    assert tok["id"] in listed, tokens
    entry = listed[tok["id"]]
    assert "token" not in entry, entry
    assert entry["name"] == tok["name"], entry
    assert entry["token_prefix"] == tok["token_prefix"], entry
    assert entry["scopes"] == ["account:read", "users:read"], entry
    assert entry["is_revoked"] is False, entry
    assert all("token" not in t for t in tokens), tokens


def test_validate_token_without_auth(team):
    tok = _new_token(team.base_url, team.admin.sdk)
    r = requests.post(
        _url(team.base_url, "/v1/api-keys/validate"),
        params={"token": tok["token"]},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, (r.status_code, r.text)
    body = r.json()
    assert body["valid"] is True, body
    assert body["user_id"] == team.admin.user_id, body
    assert body["scopes"] == ["account:read", "users:read"], body


def test_regenerate_replaces_value(team):
    tok = _new_token(team.base_url, team.admin.sdk)
    old = tok["token"]
    assert _get_user_raw(team.base_url, old).status_code == 200

    r = requests.post(
        _url(team.base_url, f"/v1/api-keys/{tok['id']}/regenerate"),
        headers=team.admin.sdk.headers,
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, (r.status_code, r.text)
    new = r.json()["token"]
    assert isinstance(new, str) and new.startswith("agixt_") and len(new) == 70, r.text
    assert new != old, r.text

    r = _get_user_raw(team.base_url, old)
    assert r.status_code == 401, (r.status_code, r.text)

    user = AGiXTSDK(base_uri=team.base_url, api_key=new).get_user()
    assert user["id"] == team.admin.user_id, user


def test_revoke_token(team):
    tok = _new_token(team.base_url, team.admin.sdk)
    assert _get_user_raw(team.base_url, tok["token"]).status_code == 200

    r = requests.delete(
        _url(team.base_url, f"/v1/api-keys/{tok['id']}"),
        headers=team.admin.sdk.headers,
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json() == {"detail": f"Token '{tok['name']}' has been revoked"}, r.text

    r = _get_user_raw(team.base_url, tok["token"])
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.json() == {"detail": "Token has been revoked"}, r.text


def test_role_user_may_grant_only_own_scopes(team):
    sdk = team.user.sdk
    r = _create_token(team.base_url, sdk, ["agents:read"])
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json()["scopes"] == ["agents:read"], r.text

    r = _create_token(team.base_url, sdk, ["users:write"])
    assert r.status_code == 403, (r.status_code, r.text)
    assert r.json() == {
        "detail": "Cannot grant scope 'users:write' - you don't have this permission"
    }, r.text


def test_read_only_user_cannot_create_tokens(team):
    for scopes in (["agents:read"], []):
        r = _create_token(team.base_url, team.reader.sdk, scopes)
        assert r.status_code == 403, (scopes, r.status_code, r.text)
        assert r.json() == {
            "detail": "Insufficient permissions. Required scope: apikeys:write"
        }, r.text


def test_other_users_token_is_not_found(team):
    tok = _new_token(team.base_url, team.admin.sdk)
    path = _url(team.base_url, f"/v1/api-keys/{tok['id']}")

    r = requests.get(path, headers=team.outsider.sdk.headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == 404, (r.status_code, r.text)
    assert "detail" in r.json(), r.text

    r = requests.delete(path, headers=team.outsider.sdk.headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == 404, (r.status_code, r.text)
    assert "detail" in r.json(), r.text

    # The owner still sees it unrevoked, and it still works.
    r = requests.get(path, headers=team.admin.sdk.headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json()["is_revoked"] is False, r.text
    assert _get_user_raw(team.base_url, tok["token"]).status_code == 200


def test_invalid_expiration_is_rejected(team):
    for expiration in ("someday", "+99999-01-01", "2999-01-01"):
        r = _create_token(team.base_url, team.admin.sdk, ["users:read"], expiration=expiration)
        assert r.status_code == 400, (expiration, r.status_code, r.text)
        assert "detail" in r.json(), r.text


def test_a_token_without_scopes_reaches_nothing(team):
    """Issue 10: a token created with no scopes read the wallet, the profile and
    conversations, and logged its owner out."""
    admin = team.admin.sdk
    agent_id = admin.get_agents()[0]["id"]
    bare = AGiXTSDK(base_uri=team.base_url, api_key=_new_token(team.base_url, admin, [])["token"])
    for method, path in (
        ("GET", f"/v1/agent/{agent_id}/wallet"),
        ("GET", "/v1/user"),
        ("GET", "/v1/conversations"),
        ("GET", f"/v1/companies/{team.company_id}/members"),
        ("POST", "/v1/logout"),
    ):
        r = requests.request(method, _url(team.base_url, path), headers=bare.headers, timeout=HTTP_TIMEOUT)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert "detail" in r.json(), r.text
    # The owner's session survived the refused logout.
    assert admin.get_user()["id"] == team.admin.user_id
    wallet = AGiXTSDK(base_uri=team.base_url, api_key=_new_token(team.base_url, admin, ["wallets:read"])["token"])
    r = requests.get(_url(team.base_url, f"/v1/agent/{agent_id}/wallet"), headers=wallet.headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and r.json()["private_key"], (r.status_code, r.text)


# --- tokens limited to agents ------------------------------------------------------


def test_token_limited_to_one_agent_is_all_the_sdk_sees(team):
    admin = team.admin.sdk
    first = admin.add_agent(agent_name=f"limited-{uuid.uuid4().hex[:8]}")["id"]
    second = admin.add_agent(agent_name=f"other-{uuid.uuid4().hex[:8]}")["id"]
    r = requests.post(
        _url(team.base_url, "/v1/api-keys"),
        headers=admin.headers,
        json={"name": _token_name(), "scopes": ["agents:read"], "agent_ids": [first]},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json()["agent_ids"] == [first], r.text

    sdk = AGiXTSDK(base_uri=team.base_url, api_key=r.json()["token"])
    assert [a["id"] for a in sdk.get_agents()] == [first]
    assert sdk.get_agentconfig(first)["settings"], "the named agent is readable"
    r = requests.get(_url(team.base_url, f"/v1/agent/{second}"), headers=sdk.headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == 404, (r.status_code, r.text)

    # What a token may be given, listed for the session.
    r = requests.get(
        _url(team.base_url, "/v1/api-keys/available/agents"), headers=admin.headers, timeout=HTTP_TIMEOUT
    )
    assert r.status_code == 200, (r.status_code, r.text)
    assert {first, second} <= {a["id"] for a in r.json()["agents"]}, r.text


def test_token_cannot_be_limited_to_an_agent_the_creator_cannot_see(team):
    hidden = team.admin.sdk.add_agent(agent_name=f"hidden-{uuid.uuid4().hex[:8]}")["id"]
    r = requests.post(
        _url(team.base_url, "/v1/api-keys"),
        headers=team.user.sdk.headers,
        json={"name": _token_name(), "scopes": ["agents:read"], "agent_ids": [hidden]},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 404, (r.status_code, r.text)
    assert _detail(r) == "Agent not found", r.text
