"""Helpers shared by the team-based test modules (companies, tokens, billing).

Imported as `from helpers import ...`, the same way the tests import from conftest
(pytest puts tests/sdk on sys.path). This module defines no fixtures; each test
module wraps `build_team` in its own module-scoped `team` fixture.
"""

from collections import namedtuple

import requests
from agixtsdk import AGiXTSDK

from conftest import HTTP_TIMEOUT, PASSWORD, register_fresh_user, unique_email

ROLE_COMPANY_ADMIN = 2
ROLE_USER = 3
ROLE_READ_ONLY = 6

Member = namedtuple("Member", "sdk email user_id")
Team = namedtuple("Team", "base_url company_id admin user reader outsider outsider_company_id")


def _url(base_url, path):
    return f"{base_url}{path}"


def _invite(base_url, sdk, email, company_id, role_id):
    # The SDK has no invitation method; a client posts the body itself.
    return requests.post(
        _url(base_url, "/v1/invitations"),
        headers=sdk.headers,
        json={"email": email, "company_id": company_id, "role_id": role_id},
        timeout=HTTP_TIMEOUT,
    )


def _register_invited(base_url, email, invitation_id, first_name):
    # The same body the SDK's register_user sends, plus invitation_id, which
    # register_user cannot pass. The returned Member acts with the registration token.
    r = requests.post(
        _url(base_url, "/v1/user"),
        json={
            "email": email,
            "password": PASSWORD,
            "confirm_password": PASSWORD,
            "first_name": first_name,
            "last_name": "Invited",
            "invitation_id": invitation_id,
        },
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, (r.status_code, r.text)
    body = r.json()
    assert body.get("token"), body
    return Member(AGiXTSDK(base_uri=base_url, api_key=body["token"]), email, body["user_id"])


def _login(base_url, email):
    sdk = AGiXTSDK(base_uri=base_url)
    token = sdk.login(email, PASSWORD)
    assert isinstance(token, str) and token, (email, token)
    assert sdk.headers.get("Authorization") == token
    return sdk


def _only_company(sdk):
    user = sdk.get_user()
    companies = user["companies"]
    assert isinstance(companies, list) and len(companies) == 1, user
    return companies[0]


def _detail(r):
    return r.json().get("detail")


def build_team(base_url, login_invited=False):
    """Register an admin, invite and register a role-3 user ("Power") and a role-6
    reader ("Reader") into the admin's company, and register an outsider with a
    company of their own.

    With login_invited=True the invited members act through a session obtained by
    logging in (SDK.login) instead of the token returned by their registration.
    """
    admin_reg = register_fresh_user(base_url, first_name="Admin", last_name="Owner")
    admin = Member(admin_reg.sdk, admin_reg.email, admin_reg.response["user_id"])
    company = _only_company(admin.sdk)
    assert company["role_id"] == ROLE_COMPANY_ADMIN, company
    company_id = company["id"]

    invited = {}
    for role_id, first_name in ((ROLE_USER, "Power"), (ROLE_READ_ONLY, "Reader")):
        email = unique_email()
        r = _invite(base_url, admin.sdk, email, company_id, role_id)
        assert r.status_code == 200, (role_id, r.status_code, r.text)
        member = _register_invited(base_url, email, r.json()["id"], first_name)
        if login_invited:
            member = member._replace(sdk=_login(base_url, email))
        invited[role_id] = member

    outsider_reg = register_fresh_user(base_url, first_name="Outsider", last_name="Else")
    outsider = Member(outsider_reg.sdk, outsider_reg.email, outsider_reg.response["user_id"])
    outsider_company_id = _only_company(outsider.sdk)["id"]

    return Team(
        base_url,
        company_id,
        admin,
        invited[ROLE_USER],
        invited[ROLE_READ_ONLY],
        outsider,
        outsider_company_id,
    )
