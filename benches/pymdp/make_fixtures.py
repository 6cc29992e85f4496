#!/usr/bin/env python3
"""Writes the parity fixtures of crates/inference from pymdp 0.0.7.1 itself.

    python3 benches/pymdp/make_fixtures.py [--out crates/inference/tests/fixtures] [--random 120]

Creates benches/pymdp/.venv on first use (see pymdp_env.py). Each fixture holds the model (or,
for the grid explorer, its template parameters and a fingerprint of its tensors), the settings,
the observations and, per step, what pymdp's Agent computed: qs, q_pi, G, the action, the
variational free energy (maths.calc_free_energy on the step's empirical prior) and the belief
entropy. The Rust tests (crates/inference/tests/parity.rs) compare against them within 1e-6
without Python.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pymdp_env  # noqa: E402

pymdp_env.ensure()

import numpy as np  # noqa: E402
import pymdp  # noqa: E402
from pymdp import control, maths, utils  # noqa: E402
from pymdp.agent import Agent  # noqa: E402

import models  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def obj(arrays):
    out = utils.obj_array(len(arrays))
    for i, a in enumerate(arrays):
        out[i] = np.asarray(a, dtype=np.float64)
    return out


def make_agent(model, settings):
    kwargs = {k: v for k, v in settings.items()}
    agent = Agent(A=obj(model["A"]), B=obj(model["B"]), C=obj(model["C"]),
                  D=None if model["D"] is None else obj(model["D"]),
                  E=model["E"], action_selection="deterministic", **kwargs)
    return agent


def r12(x):
    return float(f"{float(x):.12g}")


def run_agent(agent, observations, env_step=None):
    """Steps the agent; when env_step is given, each observation after the first comes from it."""
    steps = []
    obs_seq = []
    obs = observations[0]
    for t in range(len(observations)):
        if t > 0:
            obs = observations[t] if env_step is None else env_step(steps[-1]["action"])
        obs_seq.append([int(o) for o in obs])
        if agent.action is None:
            prior = agent.D
        else:
            prior = control.get_expected_states(agent.qs, agent.B, agent.action.reshape(1, -1))[0]
        qs = agent.infer_states(obs_seq[-1])
        q_pi, G = agent.infer_policies()
        action = agent.sample_action()
        num_obs = [a.shape[0] for a in agent.A]
        num_states = [b.shape[0] for b in agent.B]
        ll = maths.get_joint_likelihood(agent.A, utils.process_observation(tuple(obs_seq[-1]), len(num_obs), num_obs), num_states)
        free_energy = maths.calc_free_energy(qs, maths.spm_log_obj_array(prior), len(num_states), maths.spm_log_single(ll))
        entropy = -sum(float(q @ np.log(q + 1e-16)) for q in qs)
        steps.append({
            "qs": [[r12(x) for x in q] for q in qs],
            "q_pi": [r12(x) for x in q_pi],
            "G": [r12(x) for x in G],
            "action": [int(a) for a in action],
            "free_energy": r12(np.asarray(free_energy).ravel()[0]),
            "entropy": r12(entropy),
        })
    return obs_seq, steps


def tensors_json(model):
    out = {k: [np.asarray(x).tolist() for x in model[k]] for k in ("A", "B", "C")}
    if model["D"] is not None:
        out["D"] = [np.asarray(x).tolist() for x in model["D"]]
    if model["E"] is not None:
        out["E"] = np.asarray(model["E"]).tolist()
    return out


def grid_fixture(width, height, start, goals, obstacles, horizon, variant, num_steps):
    p = models.grid_params(width, height, start, goals, obstacles, horizon, variant)
    model = models.grid_model(p)
    agent = make_agent(model, {"policy_len": horizon})
    pos = list(start)

    def env_step(action):
        pos[:] = models.grid_target(p, pos[0], pos[1], action[0])
        return [models.grid_label(p, pos[0], pos[1])]

    first = [models.grid_label(p, *start)]
    obs, steps = run_agent(agent, [first] * num_steps, env_step)
    model["D"] = model["D"]
    return {"name": f"basic-explorer-{variant}-{width}x{height}-h{horizon}",
            "template": {"name": "basic-explorer", "params": p, "fingerprint": models.model_fingerprint(model)},
            "settings": {"policy_len": horizon}, "num_policies": len(agent.policies),
            "observations": obs, "steps": steps}


def model_fixture(name, model, settings, observations):
    agent = make_agent(model, settings)
    obs, steps = run_agent(agent, observations)
    return {"name": name, "model": tensors_json(model), "settings": settings,
            "policies": [np.asarray(p).astype(int).tolist() for p in agent.policies],
            "observations": obs, "steps": steps}


def two_factor_fixtures():
    out = []
    rng = np.random.default_rng(2024)
    for policy_len in (1, 2, 3):
        model = models.two_factor_model()
        observations = [[0, 0]] + [[int(rng.integers(0, 4)), int(rng.integers(0, 5))] for _ in range(5)]
        out.append(model_fixture(f"two-factor-uncontrolled-h{policy_len}", model, {"policy_len": policy_len}, observations))
    return out


def random_fixtures(count, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        model, settings = models.random_model(rng)
        observations = [[int(rng.integers(0, a.shape[0])) for a in model["A"]] for _ in range(5)]
        out.append(model_fixture(f"random-{i:03d}", model, settings, observations))
    return out


def write(path, fixtures):
    doc = {"generator": "benches/pymdp/make_fixtures.py", "pymdp": pymdp_env.PYMDP, "numpy": np.__version__,
           "fixtures": fixtures}
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(fixtures)} fixtures)", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "crates/inference/tests/fixtures")
    ap.add_argument("--random", type=int, default=120, help="number of random models (default 120)")
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--only", choices=["grid", "two-factor", "random"], help="write one file only")
    args = ap.parse_args()
    if args.random < 1:
        ap.error("--random must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "grid"):
        grids = []
        for variant in ("localizing", "reference"):
            for size in (5, 20):
                goals = [[size - 1, size - 1]]
                obstacles = [[1, 2], [2, 2]] if size == 5 else [[5, 5], [5, 6], [6, 5], [12, 3]]
                for horizon in (1, 3):
                    grids.append(grid_fixture(size, size, [0, 0], goals, obstacles, horizon, variant, 6))
        write(args.out / "grid.json", grids)
    if args.only in (None, "two-factor"):
        write(args.out / "two_factor.json", two_factor_fixtures())
    if args.only in (None, "random"):
        write(args.out / "random.json", random_fixtures(args.random, args.seed))


if __name__ == "__main__":
    main()
