#!/usr/bin/env python3
"""Login under load, against a built `agentry` binary on a fresh SQLite data directory.

Two figures, each for several settings of the same binary, in one run:
  * peak RSS (the kernel's VmHWM) while 96 clients log in at once with unknown names
    (each login runs one argon2 check of 64 MiB);
  * login p50 at 2 concurrent clients (the right password, 40 logins each).

Usage: benches/scripts/login_load.py [path/to/agentry]   (default target/release/agentry)
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target/release/agentry"
PASSWORD = "Sup3rSecret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, path, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def peak_rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def login_p50(port, email):
    times = []

    def client():
        for _ in range(40):
            t0 = time.monotonic()
            status = post(port, "/v1/login", {"username": email, "password": PASSWORD})
            times.append((time.monotonic() - t0) * 1000)
            assert status == 200, status

    clients = [threading.Thread(target=client) for _ in range(2)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    return f"{statistics.median(times):.0f}"


def measure(label, env_extra, with_p50=True):
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTRY_", "AGIXT_"))}
        env.pop("DATABASE_URL", None)
        env.update(AGENTRY_DATA_DIR=data, AGIXT_PORT=str(port), AGIXT_API_KEY="bench-key",
                   LOG_LEVEL="warn", **env_extra)
        server = subprocess.Popen([str(BINARY)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.05)
            email = "bench@example.com"
            assert post(port, "/v1/user", {"email": email, "password": PASSWORD,
                                           "confirm_password": PASSWORD}) == 200
            # Before the burst: its failures would slow this address down.
            p50 = login_p50(port, email) if with_p50 else "(bucket: not measured)"
            idle = peak_rss_mib(server.pid)

            statuses = []
            barrier = threading.Barrier(96)

            def unknown(i):
                barrier.wait()
                statuses.append(post(port, "/v1/login",
                                     {"username": f"nobody{i}@example.com", "password": "Wr0ng1234"}))

            threads = [threading.Thread(target=unknown, args=(i,)) for i in range(96)]
            started = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            burst_s = time.monotonic() - started
            peak = peak_rss_mib(server.pid)
            counts = ", ".join(f"{statuses.count(c)}x{c}" for c in sorted(set(statuses)))
            print(f"| {label} | {idle:.0f} | {peak:.0f} | {burst_s:.1f} | {counts} | {p50} |",
                  flush=True)
        finally:
            server.terminate()
            server.wait()


print("| settings | peak RSS before the burst MiB | peak RSS at 96 parallel logins MiB | burst s | "
      "statuses of the 96 | login p50 at 2 clients ms |")
print("|---|---|---|---|---|---|")
measure("no bound (as before: slots >= clients, no bucket)",
        {"AGENTRY_HASH_CONCURRENCY": "96", "AGENTRY_AUTH_RATE_LIMIT": "0",
         "AGENTRY_LOGIN_ADDRESS_FREE_FAILURES": "100000"})
measure("hash slots = cores, no bucket",
        {"AGENTRY_AUTH_RATE_LIMIT": "0", "AGENTRY_LOGIN_ADDRESS_FREE_FAILURES": "100000"})
measure("defaults (slots = cores, bucket 600/min burst 10, address throttle)", {},
        with_p50=False)
