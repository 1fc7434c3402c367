"""Auth and user routes, driven through agixtsdk 0.0.82 as a client would.

Contract: /work/shared/docs/reference/auth-billing.md sections 1, 2, 3.1 and 9,
and the project's compat policy (TOTP: one step either side of now, a used code
is refused). Every test registers its own user.
"""

import time
import uuid

import pyotp
import pytest
import requests
from agixtsdk import AGiXTSDK

from conftest import HTTP_TIMEOUT, PASSWORD, unique_email


def _register_payload(email, password=PASSWORD, confirm=None, **extra):
    # The same body the SDK's register_user sends.
    payload = {
        "email": email,
        "password": password,
        "confirm_password": password if confirm is None else confirm,
        "first_name": "Raw",
        "last_name": "Client",
    }
    payload.update(extra)
    return payload


# --- registration and the user record ------------------------------------


def test_register_returns_token_and_get_user_shows_company(new_user):
    sdk, email, _, reg = new_user(first_name="Ada", last_name="Lovelace")

    assert "secret=" in reg["otp_uri"], reg
    assert isinstance(reg["token"], str) and reg["token"], reg
    assert reg["user_id"], reg
    assert reg["username"], reg
    assert sdk.headers.get("Authorization") == reg["token"]

    user = sdk.get_user()
    assert user["id"] == reg["user_id"], user
    assert user["email"] == email, user
    companies = user["companies"]
    assert isinstance(companies, list) and len(companies) == 1, user
    assert companies[0]["role_id"] == 2, companies
    assert companies[0]["name"] == "Ada's Team", companies
    assert "input_tokens" in user, user
    assert "output_tokens" in user, user


def test_login_with_username(base_url, new_user):
    _, _, password, reg = new_user()
    sdk = AGiXTSDK(base_uri=base_url)
    token = sdk.login(reg["username"], password)
    assert isinstance(token, str) and token, token
    assert sdk.headers.get("Authorization") == token
    assert sdk.get_user()["id"] == reg["user_id"]


def test_login_with_email(base_url, new_user):
    _, email, password, reg = new_user()
    sdk = AGiXTSDK(base_uri=base_url)
    token = sdk.login(email, password)
    assert isinstance(token, str) and token, token
    user = sdk.get_user()
    assert user["id"] == reg["user_id"], user
    assert user["email"] == email, user


def test_login_wrong_password(base_url, new_user):
    _, email, _, _ = new_user()
    sdk = AGiXTSDK(base_uri=base_url)
    result = sdk.login(email, "Wr0ngPassword!")
    assert isinstance(result, dict), result
    assert result.get("detail") == "Invalid username or password", result

    r = requests.post(
        f"{base_url}/v1/login",
        json={"username": email, "password": "Wr0ngPassword!"},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.json()["detail"] == "Invalid username or password"


def test_user_exists(base_url, new_user):
    sdk, email, _, _ = new_user()
    assert sdk.user_exists(email) is True
    assert AGiXTSDK(base_uri=base_url).user_exists(unique_email()) is False


def test_update_user_first_name(new_user):
    sdk, _, _, _ = new_user(first_name="Old")
    result = sdk.update_user(first_name="New")
    assert isinstance(result, dict) and result.get("detail") == "User updated successfully.", result
    assert sdk.get_user()["first_name"] == "New"


# --- MFA ---------------------------------------------------------------------


def test_mfa_enable_then_login_requires_fresh_code(base_url, new_user):
    sdk, email, password, reg = new_user()

    setup = sdk.get_mfa_setup()
    secret = setup["secret"]
    assert secret, setup
    assert setup.get("mfa_enabled") is False, setup
    assert f"secret={secret}" in reg["otp_uri"], (secret, reg["otp_uri"])

    totp = pyotp.TOTP(secret)
    enabled_at = time.time()
    enable_code = totp.at(enabled_at)
    result = sdk.enable_mfa(enable_code)
    assert result.get("detail") == "MFA enabled successfully", result

    client = AGiXTSDK(base_uri=base_url)
    result = client.login(email, password)
    assert isinstance(result, dict), result
    assert result.get("mfa_required") is True, result

    # The enable code is spent; the next step's code is fresh and still inside
    # the accepted window (one step either side of now).
    login_code = totp.at(enabled_at + totp.interval)
    assert login_code != enable_code, "TOTP collision between adjacent steps; rerun"
    token = client.login(email, password, mfa_token=login_code)
    assert isinstance(token, str) and token, token
    assert client.get_user()["id"] == reg["user_id"]

    replay = AGiXTSDK(base_uri=base_url).login(email, password, mfa_token=login_code)
    assert isinstance(replay, dict), f"reused TOTP code was accepted: {replay!r}"
    assert "token" not in replay, replay


# --- logout ------------------------------------------------------------------


def test_logout_revokes_token(base_url, new_user):
    sdk, _, _, _ = new_user()
    headers = dict(sdk.headers)
    before = requests.get(f"{base_url}/v1/user", headers=headers, timeout=HTTP_TIMEOUT)
    assert before.status_code == 200, (before.status_code, before.text)

    r = requests.post(f"{base_url}/v1/logout", headers=headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, (r.status_code, r.text)

    after = requests.get(f"{base_url}/v1/user", headers=headers, timeout=HTTP_TIMEOUT)
    assert after.status_code == 401, (after.status_code, after.text)


# --- refusals ----------------------------------------------------------------


def test_get_user_without_authorization_is_401(base_url):
    r = requests.get(f"{base_url}/v1/user", timeout=HTTP_TIMEOUT)
    assert r.status_code == 401, (r.status_code, r.text)
    assert "detail" in r.json()


def test_get_user_with_garbage_token_is_401(base_url):
    sdk = AGiXTSDK(base_uri=base_url, api_key=f"garbage.{uuid.uuid4().hex}.token")
    r = requests.get(f"{base_url}/v1/user", headers=sdk.headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == 401, (r.status_code, r.text)
    assert "detail" in r.json()


def test_register_mismatched_passwords_is_400(base_url):
    sdk = AGiXTSDK(base_uri=base_url)
    result = sdk.register_user(unique_email(), PASSWORD, PASSWORD + "y")
    assert result.get("detail") == "Passwords do not match", result
    assert "Authorization" not in sdk.headers

    r = requests.post(
        f"{base_url}/v1/user",
        json=_register_payload(unique_email(), confirm=PASSWORD + "y"),
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.json()["detail"] == "Passwords do not match"


@pytest.mark.parametrize(
    "weak",
    ["Sh0rt", "alllowercase1", "ALLUPPERCASE1", "NoDigitsHere!"],
    ids=["too-short", "no-upper", "no-lower", "no-digit"],
)
def test_register_weak_password_is_400(base_url, weak):
    r = requests.post(
        f"{base_url}/v1/user",
        json=_register_payload(unique_email(), password=weak),
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.json()["detail"].startswith("Password must "), r.text


def test_register_duplicate_email_is_400(base_url, new_user):
    _, email, _, _ = new_user()
    r = requests.post(
        f"{base_url}/v1/user", json=_register_payload(email), timeout=HTTP_TIMEOUT
    )
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.json()["detail"] == "User with this email already exists."

    result = AGiXTSDK(base_uri=base_url).register_user(email, PASSWORD, PASSWORD)
    assert result.get("detail") == "User with this email already exists.", result


def test_register_missing_email_is_422(base_url):
    payload = _register_payload(unique_email())
    del payload["email"]
    r = requests.post(f"{base_url}/v1/user", json=payload, timeout=HTTP_TIMEOUT)
    assert r.status_code == 422, (r.status_code, r.text)
    assert isinstance(r.json()["detail"], list), r.text
