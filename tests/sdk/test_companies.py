"""Companies, invitations and roles 2, 3 and 6, driven through agixtsdk 0.0.82.

Contract: /work/shared/docs/reference/auth-billing.md sections 3 and 4, with the
project's decided deviations (docs/compat.md): another company's ids behave as
unknown ones (404), unknown role ids are 422, pending invitations need
users:read, and company routes answer with their real status instead of 500.

One team is built per module (an admin, an invited user with role 3, an invited
reader with role 6, and an outsider with a company of their own) to keep the
suite fast; the tests only read it, except the rename test, which restores
the name.
"""

import pytest
import requests

from conftest import HTTP_TIMEOUT, unique_email
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

INSUFFICIENT = "Unauthorized. Insufficient permissions."


@pytest.fixture(scope="module")
def team(base_url):
    return build_team(base_url)


# --- registration and invitations --------------------------------------------


def test_registration_without_invitation_creates_own_team(team):
    company = _only_company(team.admin.sdk)
    assert company["id"] == team.company_id, company
    assert company["role_id"] == ROLE_COMPANY_ADMIN, company
    assert company["name"] == "Admin's Team", company

    other = _only_company(team.outsider.sdk)
    assert other["id"] == team.outsider_company_id != team.company_id, other
    assert other["role_id"] == ROLE_COMPANY_ADMIN, other
    assert other["name"] == "Outsider's Team", other


def test_invitation_response_shape(team):
    email = unique_email()
    r = _invite(team.base_url, team.admin.sdk, email, team.company_id, ROLE_USER)
    assert r.status_code == 200, (r.status_code, r.text)
    inv = r.json()
    assert isinstance(inv["id"], str) and inv["id"] and inv["id"] != "none", inv
    assert f"invitation_id={inv['id']}" in inv["invitation_link"], inv
    assert inv["email"] == email, inv
    assert inv["company_id"] == team.company_id, inv
    assert inv["role_id"] == ROLE_USER, inv
    assert inv["inviter_id"] == team.admin.user_id, inv
    assert isinstance(inv["created_at"], str) and inv["created_at"], inv
    assert inv["is_accepted"] is False, inv


def test_invited_users_join_admin_company_with_invited_role(team):
    for member, role_id in ((team.user, ROLE_USER), (team.reader, ROLE_READ_ONLY)):
        company = _only_company(member.sdk)
        assert company["id"] == team.company_id, (role_id, company)
        assert company["role_id"] == role_id, company
        assert company["name"] == "Admin's Team", company


def test_invitation_refusals(team):
    for member in (team.user, team.reader):
        r = _invite(team.base_url, member.sdk, unique_email(), team.company_id, ROLE_USER)
        assert r.status_code == 403, (member.email, r.status_code, r.text)
        assert _detail(r) == INSUFFICIENT, r.text

    admin = team.admin.sdk
    # A higher privilege than the inviter's own.
    r = _invite(team.base_url, admin, unique_email(), team.company_id, 1)
    assert r.status_code == 403, (r.status_code, r.text)
    assert _detail(r) == INSUFFICIENT, r.text

    # Another company's id behaves as an unknown one.
    r = _invite(team.base_url, admin, unique_email(), team.outsider_company_id, ROLE_USER)
    assert r.status_code == 404, (r.status_code, r.text)
    assert "detail" in r.json(), r.text

    r = _invite(team.base_url, admin, unique_email(), team.company_id, 42)
    assert r.status_code == 422, (r.status_code, r.text)
    assert "detail" in r.json(), r.text


def test_pending_invitations_listing(team):
    email = unique_email()
    r = _invite(team.base_url, team.admin.sdk, email, team.company_id, ROLE_READ_ONLY)
    assert r.status_code == 200, (r.status_code, r.text)
    pending_id = r.json()["id"]

    r = requests.get(
        _url(team.base_url, "/v1/invitations"), headers=team.admin.sdk.headers, timeout=HTTP_TIMEOUT
    )
    assert r.status_code == 200, (r.status_code, r.text)
    invitations = r.json()["invitations"]
    assert isinstance(invitations, list), r.text
    ids = {inv["id"] for inv in invitations}
    assert pending_id in ids, invitations
    assert all(inv["is_accepted"] is False for inv in invitations), invitations
    # The accepted invitations of the team's user and reader are not pending.
    emails = {inv["email"] for inv in invitations}
    assert team.user.email not in emails and team.reader.email not in emails, invitations

    for member in (team.user, team.reader):
        r = requests.get(
            _url(team.base_url, "/v1/invitations"), headers=member.sdk.headers, timeout=HTTP_TIMEOUT
        )
        assert r.status_code == 403, (member.email, r.status_code, r.text)
        assert "detail" in r.json(), r.text


# --- companies -----------------------------------------------------------------


def test_get_companies_users_visible_to_admin_only(team):
    companies = team.admin.sdk.get_companies()
    assert isinstance(companies, list) and len(companies) == 1, companies
    company = companies[0]
    assert company["id"] == team.company_id, company
    users = {u["id"]: u for u in company["users"]}
    assert set(users) == {team.admin.user_id, team.user.user_id, team.reader.user_id}, users
    assert users[team.admin.user_id]["role_id"] == ROLE_COMPANY_ADMIN, users
    assert users[team.user.user_id]["role_id"] == ROLE_USER, users
    assert users[team.reader.user_id]["role_id"] == ROLE_READ_ONLY, users
    assert users[team.admin.user_id]["role"] == "company_admin", users
    assert users[team.reader.user_id]["role"] == "read_only_user", users

    for member in (team.user, team.reader):
        companies = member.sdk.get_companies()
        assert isinstance(companies, list) and len(companies) == 1, companies
        assert companies[0]["id"] == team.company_id, companies
        assert companies[0]["users"] == [], companies


def test_company_members(team):
    path = _url(team.base_url, f"/v1/companies/{team.company_id}/members")
    expected = {team.admin.user_id, team.user.user_id, team.reader.user_id}
    for member in (team.admin, team.user, team.reader):
        r = requests.get(path, headers=member.sdk.headers, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, (member.email, r.status_code, r.text)
        members = r.json()["members"]
        assert {m["id"] for m in members} == expected, members
        roles = {m["id"]: m["role_id"] for m in members}
        assert roles[team.reader.user_id] == ROLE_READ_ONLY, members

    r = requests.get(path, headers=team.outsider.sdk.headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == 404, (r.status_code, r.text)
    assert "detail" in r.json(), r.text


def test_rename_company(team):
    path = _url(team.base_url, f"/v1/companies/{team.company_id}")
    for member in (team.user, team.reader):
        r = requests.patch(path, headers=member.sdk.headers, json={"name": "Hijacked"}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 403, (member.email, r.status_code, r.text)
        assert _detail(r) == "Insufficient permissions. Required scope: company:write", r.text
    assert _only_company(team.admin.sdk)["name"] == "Admin's Team"

    try:
        r = requests.patch(path, headers=team.admin.sdk.headers, json={"name": "Renamed Team"}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.json()["name"] == "Renamed Team", r.text
        assert _only_company(team.user.sdk)["name"] == "Renamed Team"
    finally:
        # The SDK's update_company sends PUT with the same body.
        restored = team.admin.sdk.update_company(team.company_id, "Admin's Team")
    assert restored.get("name") == "Admin's Team", restored
    assert _only_company(team.admin.sdk)["name"] == "Admin's Team"


def test_company_admin_cannot_delete_company(team):
    result = team.admin.sdk.delete_company(team.company_id)
    assert isinstance(result, dict), result
    assert "company:delete" in str(result.get("detail")), result

    r = requests.delete(
        _url(team.base_url, f"/v1/companies/{team.company_id}"),
        headers=team.admin.sdk.headers,
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 403, (r.status_code, r.text)
    assert _detail(r) == "Insufficient permissions. Required scope: company:delete", r.text

    assert _only_company(team.admin.sdk)["id"] == team.company_id
