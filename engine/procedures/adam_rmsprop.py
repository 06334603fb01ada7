r"""Adam at β₁ = 0 side by side with RMSprop, with and without bias correction (adam-combines).

On an analytic objective (engine/objectives), from the same starting point and with the same
sequence of (optionally noisy) gradients, three rules take `steps` updates:

* ``adam``       engine/optim/adam.py with β₁ = 0, β₂, ε (ε outside the root, as in the paper):
                 θ ← θ − α m̂_t/(√v̂_t + ε), m̂_t = g_t at β₁ = 0, v̂_t = v_t/(1 − β₂ᵗ);
* ``rmsprop_bc`` engine/optim/rmsprop.py (β = β₂, ε outside) called with the bias correction
                 folded into its arguments.  With c_t = 1 − β₂ᵗ,
                     α g/(√(v_t/c_t) + ε) = (α√c_t) g/(√v_t + ε√c_t),
                 so RMSprop's own update with lr_t = α√c_t and eps_t = ε√c_t *is* RMSprop with
                 v̂_t: bias correction is a warm-up of the step size by √(1 − β₂ᵗ);
* ``rmsprop``    the lecture's RMSprop as it stands (v₀ = 0, no correction; same β, ε, α).

Recorded: the largest coordinate difference between Adam(β₁ = 0) and each RMSprop along the
whole trajectory, absolute and relative to the trajectory's scale max_t ‖θ_t‖∞ (the identity
says the first is rounding, ~1e-16 relative; the second is the size of the correction), and in
2-D the three paths.

The gradient noise, when ``noise`` > 0, is g + noise·σ·z with z ~ N(0, I) drawn once per step
from the run's seed and given to all three rules (so they see the same gradient whenever their
iterates agree); σ = ‖∇f(x₀)‖/√d fixes its scale.
"""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import grad

from engine.objectives import OBJECTIVES
from engine.optim.adam import ADAM
from engine.optim.rmsprop import RMSPROP
from engine.procedures import Procedure


def signature(*, lr: float = 0.05, beta2: float = 0.999, eps: float = 1e-8, steps: int = 300,
              noise: float = 0.0):
    """lr: α; beta2: β₂ of Adam = β of RMSprop; eps: ε (outside the root in all three);
    steps: updates; noise: relative size of the Gaussian gradient noise (0 = exact gradients)."""


def trajectories(problem, x0: np.ndarray, rng, lr: float, beta2: float, eps: float, steps: int,
                 noise: float) -> dict[str, np.ndarray]:
    """The three iterate sequences, each of shape (steps + 1, d)."""
    gradient = grad(lambda x: anp.sum(problem.value(x)))
    scale = float(np.linalg.norm(gradient(x0[None, :])) / np.sqrt(x0.size))
    adam_hp = ADAM.resolve({"lr": lr, "beta1": 0.0, "beta2": beta2, "eps": eps})
    rms_hp = RMSPROP.resolve({"lr": lr, "beta": beta2, "eps": eps, "eps_placement": "outside"})
    theta = {name: x0[None, :].copy() for name in ("adam", "rmsprop_bc", "rmsprop")}
    state = {"adam": ADAM.init(theta["adam"]), "rmsprop_bc": RMSPROP.init(theta["rmsprop_bc"]),
             "rmsprop": RMSPROP.init(theta["rmsprop"])}
    paths = {name: [x0.copy()] for name in theta}
    for t in range(1, steps + 1):
        z = rng.standard_normal(x0.size) if noise > 0 else np.zeros(x0.size)
        for name in theta:
            g = gradient(theta[name]) + noise * scale * z
            if name == "adam":
                theta[name], state[name] = ADAM.update(theta[name], g, state[name], adam_hp)
            elif name == "rmsprop_bc":
                c = 1.0 - beta2 ** t
                hp = {**rms_hp, "lr": lr * np.sqrt(c), "eps": eps * np.sqrt(c)}
                theta[name], state[name] = RMSPROP.update(theta[name], g, state[name], hp)
            else:
                theta[name], state[name] = RMSPROP.update(theta[name], g, state[name], rms_hp)
            paths[name].append(theta[name][0].copy())
    return {name: np.asarray(p) for name, p in paths.items()}


def run(specs: list[dict]) -> list[dict]:
    outcomes = []
    for spec in specs:
        p = spec["procedure"]["params"]
        problem = OBJECTIVES[spec["model"]["kind"]].build(**spec["model"]["params"])
        rng = np.random.default_rng(spec["seed"])
        x0 = np.asarray(problem.initial_point(rng), dtype=float)
        paths = trajectories(problem, x0, rng, float(p["lr"]), float(p["beta2"]), float(p["eps"]),
                             int(p["steps"]), float(p["noise"]))
        scale = float(np.max(np.abs(paths["adam"])))
        diff_bc = np.max(np.abs(paths["adam"] - paths["rmsprop_bc"]), axis=1)
        diff_plain = np.max(np.abs(paths["adam"] - paths["rmsprop"]), axis=1)
        finite = all(np.all(np.isfinite(v)) for v in paths.values())
        values = {name: [float(v) for v in problem.value(path)] for name, path in paths.items()}
        history = {"step": list(range(len(diff_bc))),
                   "diff_bias_corrected": diff_bc.tolist(), "diff_uncorrected": diff_plain.tolist(),
                   **{f"value_{name}": v for name, v in values.items()}}
        if problem.dim == 2:
            history.update({f"path_{name}": path.tolist() for name, path in paths.items()})
        outcomes.append({
            "status": "ok" if finite else "diverged",
            "diverged_at_step": None,
            "history": history,
            "final": {"max_abs_diff_bias_corrected": float(diff_bc.max()),
                      "max_rel_diff_bias_corrected": float(diff_bc.max() / scale),
                      "max_abs_diff_uncorrected": float(diff_plain.max()),
                      "max_rel_diff_uncorrected": float(diff_plain.max() / scale),
                      "trajectory_scale": scale,
                      **{f"final_value_{name}": v[-1] for name, v in values.items()}},
        })
    return outcomes


PROCEDURE = Procedure(
    name="adam-rmsprop",
    run=run,
    signature=signature,
    code=("engine.procedures.adam_rmsprop", "engine.optim.adam", "engine.optim.rmsprop",
          "engine.optim.base"),
    uses_optimizer=False,
    description="Adam with β₁ = 0 against RMSprop with and without bias correction, same gradients.",
)
