#!/usr/bin/env bash
# Instructions per agent step of our engine (callgrind, counting inside `step_with` only): a figure
# that, unlike wall time, does not depend on what else the machine is doing.
#
#   benches/pymdp/instructions.sh
#
# Needs valgrind. Runs the step_timing example on the 20x20 grid explorer at horizons 1, 3 and 5
# (one round of 6 observations each) and on the two-factor fixture model at horizon 3.
set -euo pipefail
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install -y valgrind)" >&2; exit 1; }
cd "$(dirname "$0")/../.."
cargo build --release --quiet -p freeagentics-inference --example step_timing
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET_DIR/release/examples/step_timing
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
grid_obs = [[4], [4], [0], [0], [0], [4]]
jobs = {f"grid 20x20 localizing, horizon {h}": {"template": {"name": "basic-explorer", "params": {"horizon": h}}, "observations": grid_obs} for h in (1, 3, 5)}
fx = json.load(open("crates/inference/tests/fixtures/two_factor.json"))["fixtures"]
two = next(f for f in fx if f["settings"]["policy_len"] == 3)
jobs["two-factor, horizon 3"] = {"model": two["model"], "settings": two["settings"], "observations": two["observations"]}
for i, (name, job) in enumerate(jobs.items()):
    job.update({"name": name, "min_seconds": 1e-9})
    open(f"{work}/job{i}.json", "w").write(json.dumps(job) + "\n")
PY

echo "| model | steps | instructions per step |"
echo "|---|---|---|"
for job in "$WORK"/job*.json; do
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg" --toggle-collect='*step_with*' "$BIN" <"$job" >"$WORK/out" 2>"$WORK/err" \
    || { cat "$WORK/err" >&2; exit 1; }
  total=$(sed -n 's/^summary: //p' "$WORK/cg")
  python3 - "$WORK/out" "$total" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read())
print(f"| {r['name']} | {r['steps']} | {int(sys.argv[2]) // r['steps']:,} |")
PY
done
