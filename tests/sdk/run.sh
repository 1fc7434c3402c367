#!/usr/bin/env bash
# Runs the agixtsdk harness against the already built agentry binary.
# Usage: tests/sdk/run.sh [extra pytest args]   (works from any cwd; does not build)
# Env: AGENTRY_BIN (default <repo>/target/debug/agentry), FAKE_STRIPE_BIN (default beside it),
#      SDK_DATABASE_URL (optional).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi

# Reinstall only when requirements.txt changed since the last successful install.
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
fi

cd "$repo"
set +e
"$venv/bin/python" -m pytest -q tests/sdk "$@"
status=$?
exit "$status"
