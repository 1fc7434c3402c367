#!/usr/bin/env bash
# Runs each instances.rs scenario N times and prints p50/p99 delay per kind of change
# (milliseconds until instance B obeys a write on A). Build first:
#   cargo test -p agentry --test instances --no-run
# Usage: TEST_DATABASE_URL=... TEST_REDIS_URL=... benches/scripts/convergence.sh [N]
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${TEST_DATABASE_URL:?set TEST_DATABASE_URL (and TEST_REDIS_URL)}"
N=${1:-10}
bin=$(ls -t target/debug/deps/instances-* | grep -v '\.d$' | head -1)
out=$(mktemp)
: > "$out"
for test in changes_on_one_instance_reach_the_other_through_postgres changes_on_one_instance_reach_the_other_through_redis changes_reach_an_instance_that_never_hears_the_bus changes_arrive_when_the_bus_connection_is_killed_mid_test changes_arrive_when_the_redis_connection_is_killed_mid_test; do
  for i in $(seq 1 "$N"); do
    "$bin" --exact "$test" --nocapture --test-threads=1 2>&1 | grep "seen on instance B" | sed "s/^/$test|/" >> "$out"
  done
done
python3 - "$out" <<'PY'
import sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    test, rest = line.strip().split('|', 1)
    kind, ms = rest.split(': seen on instance B after ')
    kind = kind.split(' ... ')[-1]
    rows[(test, kind)].append(float(ms.split()[0]))
def pct(v, p):
    v = sorted(v); k = max(0, min(len(v) - 1, round(p / 100 * (len(v) - 1)))); return v[k]
names = {'changes_on_one_instance_reach_the_other_through_postgres': 'NOTIFY',
         'changes_on_one_instance_reach_the_other_through_redis': 'Redis',
         'changes_reach_an_instance_that_never_hears_the_bus': 'none (100 ms poll)',
         'changes_arrive_when_the_bus_connection_is_killed_mid_test': 'NOTIFY, killed before the write',
         'changes_arrive_when_the_redis_connection_is_killed_mid_test': 'Redis, killed before the write'}
print("| change | " + " | ".join(names.values()) + " |")
print("|---|" + "---|" * len(names))
for kind in sorted({k for (_, k) in rows}):
    cells = [f"{pct(v, 50):.1f} / {pct(v, 99):.1f}" if (v := rows.get((t, kind))) else "-" for t in names]
    print(f"| {kind} | " + " | ".join(cells) + " |")
PY
