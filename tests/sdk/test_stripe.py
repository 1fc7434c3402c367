"""Stripe token top-ups through the real client's session, against the fake Stripe.

agixtsdk 0.0.82 has no billing methods, so the billing calls are plain requests with the
SDK's headers (what a client of the SDK does), and the paywall is seen through the SDK's
own get_user. The server runs with billing on (TOKEN_PRICE_PER_MILLION_USD=2), Stripe at
the `fake-stripe` binary (built by `cargo test`), and the fake's webhook secret.

Contract: reference auth-billing.md section 5.5; docs/compat.md for Agentry's choices.
"""

import os
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import HTTP_TIMEOUT, REPO_ROOT, _serve, register_fresh_user
from helpers import ROLE_READ_ONLY, ROLE_USER, _invite, _register_invited, _url

FAKE_SECRET_KEY = "sk_test_agentry_fake"
FAKE_WEBHOOK_SECRET = "whsec_agentry_fake"


@pytest.fixture(scope="module")
def fake_stripe():
    # Beside the server binary by default: both come out of `cargo test --workspace`.
    server = os.environ.get("AGENTRY_BIN")
    beside = Path(server).parent / "fake-stripe" if server else REPO_ROOT / "target/debug/fake-stripe"
    binary = Path(os.environ.get("FAKE_STRIPE_BIN") or beside)
    if not os.access(binary, os.X_OK):
        pytest.fail(
            f"fake-stripe not found at {binary}; `cargo test --workspace` builds it",
            pytrace=False,
        )
    proc = subprocess.Popen(
        [str(binary)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    yield url
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def stripe_url(tmp_path_factory, fake_stripe):
    yield from _serve(
        tmp_path_factory,
        {
            "TOKEN_PRICE_PER_MILLION_USD": "2",
            "STRIPE_API_KEY": FAKE_SECRET_KEY,
            "STRIPE_API_BASE": fake_stripe,
            "STRIPE_WEBHOOK_SECRET": FAKE_WEBHOOK_SECRET,
        },
        name="agentry-stripe-data",
    )


def _post(base, path, sdk=None, **kwargs):
    headers = sdk.headers if sdk is not None else {}
    return requests.post(_url(base, path), headers=headers, timeout=HTTP_TIMEOUT, **kwargs)


def _balance(base, sdk, company_id):
    r = requests.get(
        _url(base, "/v1/billing/tokens/balance"),
        headers=sdk.headers,
        params={"company_id": company_id},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()["token_balance"]


def _pay(fake, intent_id, **params):
    """The customer pays at the fake Stripe; the signed event Stripe would send."""
    r = requests.post(
        f"{fake}/_fake/payment_intents/{intent_id}/succeeded", params=params, timeout=HTTP_TIMEOUT
    )
    assert r.status_code == 200, r.text
    return r.json()


def _deliver(base, event):
    return requests.post(
        _url(base, "/v1/webhook"),
        data=event["payload"].encode(),
        headers={"stripe-signature": event["signature"], "content-type": "application/json"},
        timeout=HTTP_TIMEOUT,
    )


def test_top_up_through_stripe_opens_the_paywall(stripe_url, fake_stripe):
    reg = register_fresh_user(stripe_url, first_name="Stripe", last_name="Payer")
    sdk = reg.sdk
    blocked = sdk.get_user()
    assert blocked["detail"]["message"].startswith("Insufficient token balance"), blocked
    company_id = blocked["detail"]["customer_session"]["company_id"]

    r = _post(stripe_url, "/v1/billing/tokens/topup/stripe", sdk, json={"token_millions": 10})
    assert r.status_code == 200, (r.status_code, r.text)
    topup = r.json()
    assert topup["amount_usd"] == 20.0 and topup["token_amount"] == 10_000_000, topup
    assert topup["client_secret"].startswith(topup["payment_intent_id"]), topup
    assert _balance(stripe_url, sdk, company_id) == 0

    event = _pay(fake_stripe, topup["payment_intent_id"])
    r = _deliver(stripe_url, event)
    assert r.status_code == 200 and r.json() == {"received": True, "duplicate": False}, r.text
    assert _balance(stripe_url, sdk, company_id) == 10_000_000

    # Redelivered by Stripe (signed anew): acknowledged, applied once.
    again = requests.post(f"{fake_stripe}/_fake/redeliver", json=event, timeout=HTTP_TIMEOUT).json()
    r = _deliver(stripe_url, again)
    assert r.status_code == 200 and r.json() == {"received": True, "duplicate": True}, r.text
    # The same signed bytes replayed: refused.
    r = _deliver(stripe_url, event)
    assert r.status_code == 400 and r.json() == {"detail": "Replayed Stripe event"}, r.text
    assert _balance(stripe_url, sdk, company_id) == 10_000_000

    user = sdk.get_user()
    assert "detail" not in user, user
    assert user["email"] == reg.email
    assert user["companies"][0]["token_balance"] == 10_000_000, user


def test_a_team_member_tops_up_and_every_role_sees_the_balance(stripe_url, fake_stripe):
    admin = register_fresh_user(stripe_url, first_name="Admin", last_name="Owner").sdk
    company_id = admin.get_user()["detail"]["customer_session"]["company_id"]
    members = {}
    for role_id, first_name in ((ROLE_USER, "Power"), (ROLE_READ_ONLY, "Reader")):
        email = f"sdk-stripe-{role_id}-{os.urandom(6).hex()}@example.com"
        r = _invite(stripe_url, admin, email, company_id, role_id)
        assert r.status_code == 200, r.text
        members[role_id] = _register_invited(stripe_url, email, r.json()["id"], first_name).sdk

    power = members[ROLE_USER]
    r = _post(
        stripe_url,
        "/v1/billing/tokens/topup/stripe",
        power,
        json={"token_millions": "6", "company_id": company_id},
    )
    assert r.status_code == 200, r.text
    intent = r.json()["payment_intent_id"]
    # Confirmed by the client before Stripe has the money: refused, nothing credited.
    r = _post(stripe_url, "/v1/billing/tokens/topup/stripe/confirm", power, json={"payment_intent_id": intent})
    assert r.status_code == 400, r.text
    _pay(fake_stripe, intent)
    r = _post(stripe_url, "/v1/billing/tokens/topup/stripe/confirm", power, json={"payment_intent_id": intent})
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True and r.json()["tokens_added"] == 6_000_000, r.text

    for sdk in (admin, power, members[ROLE_READ_ONLY]):
        assert _balance(stripe_url, sdk, company_id) == 6_000_000
    r = requests.get(
        _url(stripe_url, "/v1/billing/transactions"),
        headers=members[ROLE_READ_ONLY].headers,
        params={"company_id": company_id},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200 and [t["status"] for t in r.json()] == ["completed"], r.text


def test_refusals(stripe_url, fake_stripe):
    sdk = register_fresh_user(stripe_url).sdk
    company_id = sdk.get_user()["detail"]["customer_session"]["company_id"]
    outsider = register_fresh_user(stripe_url).sdk
    for bad in (-5, 0, 2.5, 10**12, "lots"):
        r = _post(stripe_url, "/v1/billing/tokens/topup/stripe", sdk, json={"token_millions": bad})
        assert r.status_code == 422, (bad, r.status_code, r.text)
    r = _post(
        stripe_url,
        "/v1/billing/tokens/topup/stripe",
        outsider,
        json={"token_millions": 10, "company_id": company_id},
    )
    assert r.status_code == 404, r.text
    r = _post(stripe_url, "/v1/billing/tokens/topup/stripe", json={"token_millions": 10})
    assert r.status_code == 401, r.text

    r = _post(stripe_url, "/v1/billing/tokens/topup/stripe", sdk, json={"token_millions": 10})
    event = _pay(fake_stripe, r.json()["payment_intent_id"])
    tampered = dict(event, payload=event["payload"].replace("2000", "9999999"))
    assert _deliver(stripe_url, tampered).status_code == 400
    stale = _pay(fake_stripe, r.json()["payment_intent_id"], timestamp=1_000_000_000)
    assert _deliver(stripe_url, stale).status_code == 400
    assert _balance(stripe_url, sdk, company_id) == 0
