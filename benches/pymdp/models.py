"""The models the fixtures and the timing comparison run, built with numpy exactly as the Rust
builders build them (crates/inference/src/templates): the Rust tests compare fingerprints of
both sides' tensors before comparing any number.
"""

import hashlib

import numpy as np

# Observations of the grid explorer and the moves of its actions.
EMPTY, OBSTACLE, GOAL, OTHER_AGENT, OUT_OF_BOUNDS = range(5)
MOVES = [(-1, 0), (1, 0), (0, -1), (0, 1), (0, 0)]  # up, down, left, right, stay
GRID_C = [2.0, -4.0, 8.0, 0.0, -4.0]


def grid_params(width, height, start, goals, obstacles, horizon, variant):
    return {"width": width, "height": height, "start": list(start), "goals": [list(g) for g in goals],
            "obstacles": [list(o) for o in obstacles], "horizon": horizon, "variant": variant}


def grid_label(p, r, c):
    """What the localizing variant's cell (r, c) emits."""
    obstacles = {tuple(o) for o in p["obstacles"]}
    if [r, c] in p["goals"]:
        return GOAL
    if (r, c) in obstacles or any((r + dr, c + dc) in obstacles for dr, dc in MOVES[:4]):
        return OBSTACLE
    if r in (0, p["height"] - 1) or c in (0, p["width"] - 1):
        return OUT_OF_BOUNDS
    return EMPTY


def grid_target(p, r, c, a):
    """The cell action a leads to from (r, c): itself when the move leaves the grid or hits an obstacle."""
    dr, dc = MOVES[a]
    tr, tc = r + dr, c + dc
    if not (0 <= tr < p["height"] and 0 <= tc < p["width"]) or [tr, tc] in p["obstacles"]:
        return r, c
    return tr, tc


def grid_model(p):
    w, h = p["width"], p["height"]
    n = w * h
    A = np.zeros((5, n))
    for r in range(h):
        for c in range(w):
            s = r * w + c
            if p["variant"] == "reference":
                col = np.array([0.8, 0.05, 0.05, 0.05, 0.05]) + 0.01
                A[:, s] = col / col.sum()
            else:
                A[:, s] = 0.025
                A[grid_label(p, r, c), s] = 0.9
    B = np.zeros((n, n, 5))
    for r in range(h):
        for c in range(w):
            s = r * w + c
            for a in range(5):
                tr, tc = grid_target(p, r, c, a)
                t = tr * w + tc
                if t == s:
                    B[s, s, a] = 1.0
                else:
                    B[t, s, a] = 0.9
                    B[s, s, a] = 0.1
    start = p["start"][0] * w + p["start"][1]
    if p["variant"] == "reference":
        D = np.ones(n)
        D[start] *= 2.0
        D = D / D.sum()
    else:
        D = np.full(n, 0.1 / (n - 1))
        D[start] = 0.9
    return {"A": [A], "B": [B], "C": [np.array(GRID_C)], "D": [D], "E": None}


def two_factor_model():
    """Location (4 states, 4 controls: go to k) × context (2 states, uncontrolled, slowly
    switching); modality 0 reports the location, modality 1 the outcome there: nothing at the
    start, reward/punishment in the two arms depending on the context, a cue at location 3."""
    A0 = np.zeros((4, 4, 2))
    for loc in range(4):
        for ctx in range(2):
            A0[:, loc, ctx] = 0.05
            A0[loc, loc, ctx] = 0.85
    A1 = np.zeros((5, 4, 2))  # none, reward, punishment, cue left, cue right
    for ctx in range(2):
        A1[0, 0, ctx] = 1.0
        good, bad = (1, 2) if ctx == 0 else (2, 1)
        A1[good, 1, ctx], A1[bad, 1, ctx] = 0.9, 0.1
        A1[bad, 2, ctx], A1[good, 2, ctx] = 0.9, 0.1
        A1[3 + ctx, 3, ctx], A1[4 - ctx, 3, ctx] = 0.95, 0.05
    B0 = np.zeros((4, 4, 4))
    for k in range(4):
        B0[:, :, k] = 0.1 / 3
        B0[k, :, k] = 0.9
    B1 = np.array([[0.95, 0.05], [0.05, 0.95]])[:, :, None]
    C = [np.zeros(4), np.array([0.0, 3.0, -3.0, 0.0, 0.0])]
    D = [np.array([1.0, 0.0, 0.0, 0.0]), np.array([0.5, 0.5])]
    return {"A": [A0, A1], "B": [B0, B1], "C": C, "D": D, "E": None}


def random_model(rng):
    """1–3 factors of 2–8 states, 1–3 modalities of 2–8 outcomes, 1–4 controls, policy length
    1–3, at most 64 policies; some columns sparse, some priors and E given, some settings off."""
    nf = int(rng.integers(1, 4))
    nm = int(rng.integers(1, 4))
    ns = [int(x) for x in rng.integers(2, 9, size=nf)]
    no = [int(x) for x in rng.integers(2, 9, size=nm)]
    policy_len = int(rng.integers(1, 4))
    while True:
        nc = [int(x) for x in rng.integers(1, 5, size=nf)]
        if rng.random() < 0.3:
            nc[int(rng.integers(0, nf))] = 1
        if 2 <= int(np.prod(nc)) ** policy_len <= 64:
            break
    def columns(shape, sparse):
        conc = float(rng.choice([0.3, 1.0, 5.0]))
        x = rng.dirichlet(np.full(shape[0], conc), size=int(np.prod(shape[1:]))).T
        if sparse:
            x = x * (rng.random(x.shape) > 0.3)
            x[0, x.sum(axis=0) == 0] = 1.0
            x = x / x.sum(axis=0)
        return x.reshape(shape)
    A = [columns([no[m], *ns], rng.random() < 0.4) for m in range(nm)]
    B = [columns([ns[f], ns[f], nc[f]], rng.random() < 0.4) for f in range(nf)]
    C = [rng.normal(0.0, 2.0, size=no[m]) for m in range(nm)]
    D = None if rng.random() < 0.3 else [rng.dirichlet(np.ones(ns[f])) for f in range(nf)]
    num_policies = int(np.prod(nc)) ** policy_len
    E = rng.dirichlet(np.ones(num_policies)) if rng.random() < 0.25 else None
    settings = {"policy_len": policy_len}
    if rng.random() < 0.3:
        settings["gamma"] = float(np.round(rng.uniform(0.5, 32.0), 3))
    roll = rng.random()
    if roll < 0.1:
        settings["use_utility"] = False
    elif roll < 0.2:
        settings["use_states_info_gain"] = False
    return {"A": A, "B": B, "C": C, "D": D, "E": E}, settings


WEIGHT_MOD = 1000003


def fingerprint(t):
    """Shape, the positions of the non-zeros (exact) and two sums (compared within 1e-9)."""
    t = np.ascontiguousarray(t, dtype=np.float64)
    flat = t.ravel()
    nz = np.flatnonzero(flat).astype("<u8")
    weights = ((np.arange(flat.size, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(WEIGHT_MOD)).astype(np.float64) / WEIGHT_MOD
    return {"shape": list(t.shape), "nonzeros_sha256": hashlib.sha256(nz.tobytes()).hexdigest(),
            "sum": float(flat.sum()), "weighted_sum": float(flat @ weights)}


def model_fingerprint(model):
    out = {}
    for key in ("A", "B", "C", "D"):
        out[key] = [fingerprint(x) for x in model[key]]
    return out
