"""Token billing: the billing config, company balances, the server-key credit route and
the 402 paywall on GET /v1/user, driven through agixtsdk 0.0.82.

Contract: /work/shared/docs/reference/auth-billing.md section 5, with the project's
decided deviations (docs/compat.md): the balance also carries `available_tokens` (what
AGiXT's endpoint suite reads), another company's balance behaves as unknown (404), and
`POST /v1/credit?company=&amount=` (server key only) credits a company at the token
price, or at $0.50 a million with billing off.

Most tests run on the session's normal server (billing off). The paywall tests use a
second server started with TOKEN_PRICE_PER_MILLION_USD=2 (`billing_url`). One team is
built per module on the normal server (an admin, an invited user with role 3, an invited
reader with role 6, and an outsider with a company of their own); its company is never
credited, so its balance stays 0. The credit tests credit fresh companies of their own.
"""

import pytest
import requests

from conftest import API_KEY, HTTP_TIMEOUT, register_fresh_user
from helpers import (
    ROLE_COMPANY_ADMIN,
    ROLE_READ_ONLY,
    ROLE_USER,
    _only_company,
    _url,
    build_team,
)

PAYWALL_MESSAGE = "Insufficient token balance. Please top up your tokens."

BALANCE_FIELDS = {
    "token_balance",
    "available_tokens",
    "token_balance_usd",
    "tokens_used_total",
    "low_balance_warning",
    "is_child_company",
}


def _config(base_url):
    # No auth: the SDK's headers are not sent.
    return requests.get(_url(base_url, "/v1/billing/config"), timeout=HTTP_TIMEOUT)


def _balance(base_url, headers, company_id=None):
    params = {"sync": "false"}
    if company_id is not None:
        params["company_id"] = company_id
    return requests.get(
        _url(base_url, "/v1/billing/tokens/balance"),
        headers=headers,
        params=params,
        timeout=HTTP_TIMEOUT,
    )


def _credit(base_url, authorization, company_id, amount):
    return requests.post(
        _url(base_url, "/v1/credit"),
        headers={"Authorization": authorization},
        params={"company": company_id, "amount": amount},
        timeout=HTTP_TIMEOUT,
    )


def _assert_zero_balance(r, who):
    assert r.status_code == 200, (who, r.status_code, r.text)
    body = r.json()
    assert BALANCE_FIELDS <= set(body), (who, body)
    assert body["token_balance"] == 0, (who, body)
    assert body["available_tokens"] == 0, (who, body)
    assert isinstance(body["token_balance_usd"], (int, float)), (who, body)
    assert body["token_balance_usd"] == 0, (who, body)
    assert isinstance(body["tokens_used_total"], int), (who, body)
    assert body["tokens_used_total"] == 0, (who, body)
    assert body["low_balance_warning"] is True, (who, body)
    assert body["is_child_company"] is False, (who, body)


@pytest.fixture(scope="module")
def team(base_url):
    return build_team(base_url)


# --- billing off -----------------------------------------------------------------


def test_billing_config_when_billing_is_off(base_url):
    r = _config(base_url)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json() == {"billing_enabled": False, "token_price_usd": 0.0}, r.text


def test_every_member_role_reads_company_balance(team):
    # What AGiXT's own endpoint suite calls for roles 2, 3 and 6.
    for member, role_id in (
        (team.admin, ROLE_COMPANY_ADMIN),
        (team.user, ROLE_USER),
        (team.reader, ROLE_READ_ONLY),
    ):
        assert _only_company(member.sdk)["role_id"] == role_id, role_id
        r = _balance(team.base_url, member.sdk.headers, team.company_id)
        _assert_zero_balance(r, role_id)


def test_outsider_cannot_read_company_balance(team):
    r = _balance(team.base_url, team.outsider.sdk.headers, team.company_id)
    assert r.status_code == 404, (r.status_code, r.text)
    assert "detail" in r.json(), r.text

    # Their own company is readable, and empty.
    own = _only_company(team.outsider.sdk)["id"]
    assert own != team.company_id
    _assert_zero_balance(_balance(team.base_url, team.outsider.sdk.headers, own), "outsider")


def test_balance_needs_company_id(team):
    r = _balance(team.base_url, team.admin.sdk.headers)
    assert r.status_code == 422, (r.status_code, r.text)
    assert "detail" in r.json(), r.text


def test_credit_with_server_key_adds_tokens(base_url):
    admin = register_fresh_user(base_url, first_name="Credit", last_name="Owner")
    company_id = _only_company(admin.sdk)["id"]

    # Billing off: $1 at $0.50 a million.
    r = _credit(base_url, API_KEY, company_id, 1)
    assert r.status_code == 200, (r.status_code, r.text)
    body = r.json()
    assert body["tokens"] == 2_000_000, body
    assert "detail" in body, body

    r = _balance(base_url, admin.sdk.headers, company_id)
    assert r.status_code == 200, (r.status_code, r.text)
    balance = r.json()
    assert balance["token_balance"] == 2_000_000, balance
    assert balance["available_tokens"] == 2_000_000, balance
    assert balance["is_child_company"] is False, balance

    user = admin.sdk.get_user()
    assert user["companies"][0]["id"] == company_id, user
    assert user["companies"][0]["token_balance"] == 2_000_000, user


def test_credit_with_user_token_is_unauthorized(base_url):
    admin = register_fresh_user(base_url, first_name="Credit", last_name="Forger")
    company_id = _only_company(admin.sdk)["id"]

    r = _credit(base_url, admin.sdk.headers["Authorization"], company_id, 1)
    assert r.status_code == 401, (r.status_code, r.text)
    assert "detail" in r.json(), r.text

    assert _only_company(admin.sdk)["token_balance"] == 0


# --- billing on: TOKEN_PRICE_PER_MILLION_USD=2 -----------------------------------------


def test_billing_config_when_billing_is_on(billing_url):
    r = _config(billing_url)
    assert r.status_code == 200, (r.status_code, r.text)
    body = r.json()
    assert body["billing_enabled"] is True, body
    assert body["token_price_usd"] == 2.0, body


def test_paywall_until_company_is_credited(billing_url):
    reg = register_fresh_user(billing_url, first_name="Payer", last_name="Pending")
    sdk = reg.sdk

    # The SDK's get_user returns the 402 body as it is.
    blocked = sdk.get_user()
    assert isinstance(blocked, dict) and isinstance(blocked.get("detail"), dict), blocked
    detail = blocked["detail"]
    assert detail["message"] == PAYWALL_MESSAGE, detail
    assert detail["token_price_per_million_usd"] == 2.0, detail
    company_id = detail["customer_session"]["company_id"]
    assert isinstance(company_id, str) and company_id, detail

    r = requests.get(_url(billing_url, "/v1/user"), headers=sdk.headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == 402, (r.status_code, r.text)
    assert r.json()["detail"]["customer_session"]["company_id"] == company_id, r.text

    # $10 at $2 a million.
    r = _credit(billing_url, API_KEY, company_id, 10)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json()["tokens"] == 5_000_000, r.text

    user = sdk.get_user()
    assert "detail" not in user, user
    assert user["email"] == reg.email, user
    assert user["id"] == reg.response["user_id"], user
    companies = user["companies"]
    assert isinstance(companies, list) and len(companies) == 1, user
    assert companies[0]["id"] == company_id, user
    assert companies[0]["role_id"] == ROLE_COMPANY_ADMIN, user
    assert companies[0]["token_balance"] == 5_000_000, user


def test_paywall_company_is_the_users_own(billing_url):
    # Two new users each see their own company in the 402, not each other's.
    ids = []
    for _ in range(2):
        sdk = register_fresh_user(billing_url).sdk
        detail = sdk.get_user()["detail"]
        assert detail["message"] == PAYWALL_MESSAGE, detail
        ids.append(detail["customer_session"]["company_id"])
    assert ids[0] != ids[1], ids
