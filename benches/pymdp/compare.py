#!/usr/bin/env python3
"""Times pymdp 0.0.7.1 and our engine per agent step on the same models, in the same run.

    python3 benches/pymdp/compare.py [--quick] [--skip-h5] [--ours-binary PATH]

Our side is crates/inference/examples/step_timing.rs (built here with cargo --release unless
--ours-binary is given); pymdp's side is Agent.infer_states + infer_policies + sample_action on
the same tensors (built by models.py, which the Rust tests check against our builders). Prints a
markdown table for docs/PERFORMANCE.md. Exits non-zero when either side fails.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pymdp_env  # noqa: E402

pymdp_env.ensure()

import numpy as np  # noqa: E402

import models  # noqa: E402
from make_fixtures import make_agent, tensors_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GRID_OBS = [[4], [4], [0], [0], [0], [4]]


def large_random_model():
    """Factors of 10, 8 and 6 states (480 joint; controls 4, 3, 1), two dense modalities of 6 and
    5 outcomes, horizon 2: 144 policies."""
    rng = np.random.default_rng(7)
    ns, nc, no = [10, 8, 6], [4, 3, 1], [6, 5]
    def cols(shape):
        x = rng.dirichlet(np.ones(shape[0]), size=int(np.prod(shape[1:]))).T
        return x.reshape(shape)
    model = {"A": [cols([o, *ns]) for o in no], "B": [cols([n, n, k]) for n, k in zip(ns, nc)],
             "C": [rng.normal(0, 2, size=o) for o in no], "D": None, "E": None}
    return model, {"policy_len": 2}, [[int(rng.integers(0, o)) for o in no] for _ in range(5)]


def cases(args):
    out = []
    for h in (1, 3, 5):
        if h == 5 and args.skip_h5:
            continue
        p = models.grid_params(20, 20, [0, 0], [[19, 19]], [], h, "localizing")
        steps = {1: 6, 3: 3, 5: 1}[h] if not args.quick else 1
        out.append({"name": f"grid 20x20 localizing, horizon {h}", "pymdp_model": models.grid_model(p),
                    "settings": {"policy_len": h}, "ours": {"template": {"name": "basic-explorer", "params": p}},
                    "observations": GRID_OBS[:steps]})
    for h in (1, 3):
        m = models.two_factor_model()
        out.append({"name": f"two-factor, horizon {h}", "pymdp_model": m, "settings": {"policy_len": h},
                    "ours": {"model": tensors_json(m), "settings": {"policy_len": h}},
                    "observations": [[0, 0], [3, 3], [1, 1], [1, 1], [2, 2]]})
    m, s, obs = large_random_model()
    out.append({"name": "large random (480 joint states), horizon 2", "pymdp_model": m, "settings": s,
                "ours": {"model": tensors_json(m), "settings": s}, "observations": obs[:2] if args.quick else obs[:3]})
    return out


def time_pymdp(case):
    agent = make_agent(case["pymdp_model"], case["settings"])
    start = time.perf_counter()
    for obs in case["observations"]:
        agent.infer_states(obs)
        agent.infer_policies()
        agent.sample_action()
    return (time.perf_counter() - start) / len(case["observations"]), len(agent.policies)


def ours_binary(args):
    if args.ours_binary:
        return Path(args.ours_binary)
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "freeagentics-inference", "--example", "step_timing"],
                   cwd=ROOT, check=True)
    target = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT, check=True,
                            capture_output=True, text=True)
    return Path(json.loads(target.stdout)["target_directory"]) / "release" / "examples" / "step_timing"


def time_ours(binary, all_cases, min_seconds):
    jobs = "".join(json.dumps({"name": c["name"], **c["ours"], "observations": c["observations"],
                               "min_seconds": min_seconds}) + "\n" for c in all_cases)
    run = subprocess.run([str(binary)], input=jobs, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"compare.py: our engine failed ({run.returncode}): {run.stderr.strip()}")
    results = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    if len(results) != len(all_cases):
        raise SystemExit(f"compare.py: our engine answered {len(results)} of {len(all_cases)} jobs")
    return {r["name"]: r for r in results}


def fmt(seconds):
    return f"{seconds * 1e3:.3f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one pymdp step per model (a smoke run)")
    ap.add_argument("--skip-h5", action="store_true", help="skip horizon 5 (pymdp needs about a minute per step)")
    ap.add_argument("--ours-binary", help="a built step_timing example (default: build it)")
    ap.add_argument("--min-seconds", type=float, default=2.0, help="timing budget of our side per model")
    args = ap.parse_args()
    if args.min_seconds <= 0:
        ap.error("--min-seconds must be positive")
    all_cases = cases(args)
    ours = time_ours(ours_binary(args), all_cases, args.min_seconds)
    print(f"pymdp {pymdp_env.PYMDP} (numpy {np.__version__}) vs crates/inference, same machine, same run\n")
    print("| model | policies | pymdp per step | ours per step (mean) | ours (best) | speed-up | compiled model heap |")
    print("|---|---|---|---|---|---|---|")
    for c in all_cases:
        theirs, n = time_pymdp(c)
        o = ours[c["name"]]
        if o["num_policies"] != n:
            raise SystemExit(f"compare.py: {c['name']}: {o['num_policies']} policies here, {n} in pymdp")
        print(f"| {c['name']} | {n} | {fmt(theirs)} | {fmt(o['mean_step_seconds'])} | {fmt(o['best_step_seconds'])} "
              f"| {theirs / o['mean_step_seconds']:,.0f}× | {o['heap_bytes'] / 1024:.0f} KiB |", flush=True)


if __name__ == "__main__":
    main()
