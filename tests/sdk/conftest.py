"""Fixtures that run the built agentry binary and drive it with agixtsdk 0.0.82.

The server is started once per session on a free port in a fresh data directory
and stopped with SIGTERM at the end; it must exit 0.

Environment:
  AGENTRY_BIN        path of the binary (default <repo>/target/debug/agentry)
  SDK_DATABASE_URL   database to use instead of SQLite in the data dir
  SDK_TEST_TIMEOUT   seconds before a single test is aborted (default 60)
"""

import os
import signal
import socket
import subprocess
import time
import uuid
from collections import namedtuple
from pathlib import Path

import pytest
import requests
from agixtsdk import AGiXTSDK

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "agentry-sdk-test-key-4f1c2b9e7d6a5038"
PASSWORD = "Sup3rSecret!x"
STARTUP_TIMEOUT = 20.0
SHUTDOWN_TIMEOUT = 15.0
HTTP_TIMEOUT = 30  # for the raw `requests` calls the tests make

# Variables that would change how the server under test is configured if they
# leaked in from the caller's environment.
_SCRUBBED_PREFIXES = ("AGENTRY_", "AGIXT_")
_SCRUBBED_NAMES = (
    "DATABASE_URL",
    "REDIS_URL",
    "SUPERADMIN_EMAIL",
    "TOKEN_PRICE_PER_MILLION_USD",
    "LOW_BALANCE_WARNING_THRESHOLD",
    "TOKEN_WARNING_INCREMENT",
    "APP_URI",
    "APP_NAME",
    "LOG_LEVEL",
    "STRIPE_API_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "MIN_TOKEN_TOPUP_USD",
    "BILLING_PORTAL_RETURN_URL",
)

RegisteredUser = namedtuple("RegisteredUser", "sdk email password response")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 80) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<could not read server log {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:]) or "<server printed nothing>"


def _server_env(data_dir: Path, port: int, extra_env: dict | None = None) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_SCRUBBED_PREFIXES) and k not in _SCRUBBED_NAMES
    }
    env.update(
        AGENTRY_DATA_DIR=str(data_dir),
        AGIXT_PORT=str(port),
        AGIXT_API_KEY=API_KEY,
        AGENTRY_WORKERS="2",
        # The suite signs in many times a second from one address.
        AGENTRY_AUTH_RATE_BURST="1000",
    )
    if os.environ.get("SDK_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["SDK_DATABASE_URL"]
    if extra_env:
        env.update(extra_env)
    return env


def _serve(tmp_path_factory, extra_env: dict | None = None, name: str = "agentry-data"):
    """Start `agentry serve` (with extra_env on top of the usual environment), yield its
    base URL, stop it with SIGTERM; for session fixtures to `yield from`."""
    binary = Path(os.environ.get("AGENTRY_BIN") or REPO_ROOT / "target/debug/agentry")
    if not os.access(binary, os.X_OK):
        pytest.fail(
            f"agentry binary not found at {binary}; build it first "
            "(cargo build -p agentry) or set AGENTRY_BIN",
            pytrace=False,
        )

    data_dir = tmp_path_factory.mktemp(name)
    log_path = data_dir / "server.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"

    with open(log_path, "wb") as log:
        # cwd is the data dir so that no ./agentry.toml of the caller is picked up.
        proc = subprocess.Popen(
            [str(binary), "serve"],
            cwd=data_dir,
            env=_server_env(data_dir, port, extra_env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error = "no attempt"
    while True:
        if proc.poll() is not None:
            pytest.fail(
                f"agentry exited with code {proc.returncode} during startup.\n"
                f"--- server output ({log_path}) ---\n{_tail(log_path)}",
                pytrace=False,
            )
        try:
            r = requests.get(f"{url}/health", timeout=1)
            if r.status_code == 200 and r.json() == {"status": "ok"}:
                break
            last_error = f"GET /health -> {r.status_code} {r.text[:200]!r}"
        except (requests.RequestException, ValueError) as exc:
            last_error = repr(exc)
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(
                f"agentry did not become healthy on {url} within "
                f"{STARTUP_TIMEOUT:.0f} s (last: {last_error}).\n"
                f"--- server output ({log_path}) ---\n{_tail(log_path)}",
                pytrace=False,
            )
        time.sleep(0.1)

    yield url

    if proc.poll() is not None:
        pytest.fail(
            f"agentry died during the session (exit code {proc.returncode}).\n"
            f"--- server output ({log_path}) ---\n{_tail(log_path)}",
            pytrace=False,
        )
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(
            f"agentry did not exit within {SHUTDOWN_TIMEOUT:.0f} s of SIGTERM.\n"
            f"--- server output ({log_path}) ---\n{_tail(log_path)}",
            pytrace=False,
        )
    assert code == 0, (
        f"agentry exited with code {code} after SIGTERM.\n"
        f"--- server output ({log_path}) ---\n{_tail(log_path)}"
    )


@pytest.fixture(scope="session")
def base_url(tmp_path_factory):
    """Start `agentry serve`, yield its base URL, stop it with SIGTERM."""
    yield from _serve(tmp_path_factory)


@pytest.fixture(scope="session")
def billing_url(tmp_path_factory):
    """A second server with billing on (TOKEN_PRICE_PER_MILLION_USD=2); its own data dir.

    SDK_DATABASE_URL, when set, is shared with `base_url`'s server: the tests use
    fresh users and companies, so the two never see each other's rows.
    """
    yield from _serve(
        tmp_path_factory,
        {"TOKEN_PRICE_PER_MILLION_USD": "2"},
        name="agentry-billing-data",
    )


@pytest.fixture(autouse=True)
def _per_test_timeout():
    """The SDK sets no HTTP timeouts; abort a test rather than hang the run."""
    seconds = int(os.environ.get("SDK_TEST_TIMEOUT", "60"))

    def on_alarm(signum, frame):
        pytest.fail(f"test exceeded {seconds} s (SDK_TEST_TIMEOUT)", pytrace=True)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def unique_email() -> str:
    return f"sdk-{uuid.uuid4().hex}@example.com"


def register_fresh_user(
    base_url: str,
    first_name: str = "Test",
    last_name: str = "User",
    password: str = PASSWORD,
    check: bool = True,
    **extra,
) -> RegisteredUser:
    """Register a new user through the SDK exactly as a client would.

    Returns (sdk, email, password, registration_response); after a successful
    registration the SDK's headers carry the new token. With check=True a
    response without a token fails the calling test with the server's answer.
    """
    sdk = AGiXTSDK(base_uri=base_url)
    email = unique_email()
    response = sdk.register_user(
        email=email,
        password=password,
        confirm_password=password,
        first_name=first_name,
        last_name=last_name,
        **extra,
    )
    if check:
        assert isinstance(response, dict) and response.get("token"), (
            f"registration of {email} failed: {response!r}"
        )
    return RegisteredUser(sdk, email, password, response)


@pytest.fixture
def new_user(base_url):
    """Factory: new_user(first_name=..., ...) -> RegisteredUser."""

    def factory(**kwargs) -> RegisteredUser:
        return register_fresh_user(base_url, **kwargs)

    return factory
