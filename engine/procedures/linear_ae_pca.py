r"""linear_ae_pca: a linear autoencoder against PCA where PCA is optimal, on the training split.

Eckart–Young: among all affine maps $x \mapsto \mu + P(x - \mu)$ of rank $c$, the smallest mean
squared error on a set of examples is PCA's fitted to that set — $\mu$ its mean, $P$ the projection
on its $c$ leading principal directions — and equals $\frac{1}{D}\sum_{i > c}\lambda_i$, the
discarded eigenvalues $\lambda_i$ of the set's covariance (normalised by N) over the D coordinates.  A
linear autoencoder $r = g(f(x))$, with $f$ and $g$ affine and a code of size $c$, is such a map:
on its training split its error is at least PCA's, with equality at its global minimum (Baldi &
Hornik 1989: every other critical point is a saddle), where the decoder spans PCA's subspace.

The procedure trains the group's members (seeds; each with its own optimizer and step size)
together, as the trainers do: the study's linear autoencoder with every step on the whole training
split (full batch: no minibatch noise, so a constant step can settle), for ``budget.max_steps``
steps, and records for each member

* history: the training MSE on the whole split (the full-batch loss itself) at ``budget.evals``
  evenly spaced steps;
* final: ``train_mse`` on the whole training split, ``val_mse``, ``test_mse``; ``pca_train_mse``
  (PCA with c components fitted on the training split, its error there) and ``train_ratio`` =
  train_mse / pca_train_mse (≥ 1 by Eckart–Young); the principal angles in degrees between the
  decoder's subspace span{g(e_j) − g(0)} and PCA's (``angles_deg``, largest first:
  ``scipy.linalg.subspace_angles``); the convergence checks ``tail_decrease`` (relative decrease of
  the training MSE over the last ``tail`` of the steps) and ``grad_norm`` (Euclidean norm of the
  full-batch gradient at the end);
* artifacts: the model's own (reconstructions, 2-D codes, linear probes), as training stores them.
"""
from __future__ import annotations

import numpy as np

from engine.data import DATASETS
from engine.models import MODELS
from engine.procedures import Procedure
from engine.training.loop import Members
from engine.training.network import FlatBlock, member_rngs


def signature(*, decay_decades=2.0, tail=0.1):
    """decay_decades: the step falls geometrically from the study's α to α · 10^(−decay_decades)
    over the run; tail: the final share of the steps over which the relative decrease of the
    training MSE is measured (the convergence check)."""


def pca_fit(x: np.ndarray, code: int) -> tuple[float, np.ndarray]:
    """PCA with ``code`` components fitted on the rows of x (N, D), in float64: its mean squared
    error per coordinate on x itself, (1/D) Σ_{i>c} λ_i, and its leading directions (D, c)."""
    x = np.reshape(x, (x.shape[0], -1)).astype(np.float64)
    n, d = x.shape
    _, s, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    return float(np.sum(s[code:] ** 2) / (n * d)), vt[:code].T


def decoder_basis(decode, params: dict, code: int) -> np.ndarray:
    """(K, D, c): the directions g(e_j) − g(0) of each member's affine decoder g, whose span is
    the subspace its reconstructions live in (translated by g(0))."""
    k = next(iter(params.values())).shape[0]
    codes = np.broadcast_to(np.vstack([np.zeros(code), np.eye(code)]), (k, code + 1, code))
    out = np.asarray(decode(params, codes.astype(next(iter(params.values())).dtype)), dtype=np.float64)
    out = out.reshape(k, code + 1, -1)
    return np.transpose(out[:, 1:] - out[:, :1], (0, 2, 1))


def principal_angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles between span(a) and span(b) (columns), in degrees, largest first."""
    from scipy.linalg import subspace_angles

    return np.degrees(subspace_angles(a, b))


def tail_decrease(losses: np.ndarray, tail: float) -> float:
    """(L(T − m) − L(T)) / L(T) for the losses L(0), …, L(T) of one member, m = ⌈tail·T⌉."""
    losses = np.asarray(losses, dtype=np.float64)
    m = max(1, int(np.ceil(tail * (len(losses) - 1))))
    return float((losses[-1 - m] - losses[-1]) / losses[-1])


def step_size(base: float, step: int, steps: int, decades: float) -> float:
    """α_t = α · 10^(−decades · t / T): the step decays geometrically, by ``decades`` powers of ten
    over the T steps of the run."""
    return base * 10.0 ** (-decades * step / steps)


def _train(model, data, specs: list[dict]):
    """Full-batch steps for the group's K members together, each with its own optimizer and step
    schedule (every operation is per member, so a member's numbers are those it gets trained
    alone): their parameters (K, …), each member's losses L(0), …, L(T) (up to its first
    non-finite one) and its gradient at the end."""
    # a group's members share all but seed and optimizer: the budget and the schedule's decades
    steps = int(specs[0]["budget"]["max_steps"])
    decades = float(specs[0]["procedure"]["params"]["decay_decades"])
    params = model.init(member_rngs(specs, 0))
    block = FlatBlock(params, "")
    members = Members(specs, [block.pack(params)])
    bases = [float(s["optimizer"]["hp"]["lr"]) for s in specs]
    rule_members = [np.arange(len(specs))[rule.rows] for rule in members.rules]
    batch = {"x": np.broadcast_to(data.x_train, (len(specs),) + data.x_train.shape)}
    losses = np.empty((len(specs), steps + 1))
    for step in range(steps + 1):
        values, grads = block.loss_and_gradient(lambda p: model.loss(p, batch), members.thetas[0], model.tape)
        losses[:, step] = values
        members.check_finite(losses[:, step], step, parameters=False)
        if step == steps or not members.active.any():
            break
        for rule, rows in zip(members.rules, rule_members):   # α_t rounded to the parameters' dtype
            rule.hp["lr"] = np.asarray([[step_size(bases[i], step, steps, decades)] for i in rows],
                                       dtype=rule.hp["lr"].dtype)
        members.step(0, grads)
    ends = [steps if at is None else at for at in members.diverged_at]
    return (block.unpack(members.thetas[0]), [losses[i, :end + 1] for i, end in enumerate(ends)],
            [float(np.linalg.norm(np.asarray(g, dtype=np.float64))) for g in grads])


def _measure(model, data, spec: dict, params: dict, losses: np.ndarray, grad_norm: float,
             pca: tuple[float, np.ndarray]) -> dict:
    """One member's outcome from its trained parameters (K = 1) and losses."""
    code = int(spec["model"]["params"]["code"])
    steps = int(spec["budget"]["max_steps"])
    evals = np.unique(np.round(np.linspace(0, steps, int(spec["budget"].get("evals", 24)) + 1))).astype(int)
    final = {"steps": steps, "batch_size": int(data.x_train.shape[0])}
    if len(losses) <= steps or not np.isfinite(losses[-1]):
        return {"status": "diverged", "diverged_at_step": len(losses) - 1, "final": final,
                "history": {"step": [int(e) for e in evals if e < len(losses)],
                            "train_mse": [float(losses[e]) for e in evals if e < len(losses)]}}
    pca_mse, pca_basis = pca
    basis = decoder_basis(model.extras["decode"], params, code)[0]
    final.update({"train_mse": float(losses[-1]), "val_mse": float(model.loss(params, {"x": data.x_val[None]})[0]),
                  "test_mse": float(model.loss(params, {"x": data.x_test[None]})[0]),
                  "pca_train_mse": pca_mse, "train_ratio": float(losses[-1]) / pca_mse,
                  "angles_deg": principal_angles_deg(basis, pca_basis).tolist(),
                  "tail_decrease": tail_decrease(losses, float(spec["procedure"]["params"]["tail"])),
                  "grad_norm": grad_norm})
    artifacts = model.artifacts(params, data, member_rngs([spec], 4))
    return {"status": "ok", "diverged_at_step": None, "final": final,
            "history": {"step": evals.tolist(), "train_mse": losses[evals].tolist()},
            "artifacts": {name: np.asarray(v[0], dtype=float).tolist() for name, v in artifacts.items()}}


def run(specs: list[dict]) -> list[dict]:
    s0 = specs[0]
    data = DATASETS[s0["dataset"]["kind"]].load(None, **s0["dataset"]["params"])
    model = MODELS[s0["model"]["kind"]].build(data.info, **s0["model"]["params"])
    pca = pca_fit(data.x_train, int(s0["model"]["params"]["code"]))
    params, losses, grad_norms = _train(model, data, specs)
    return [_measure(model, data, spec, {name: value[i:i + 1] for name, value in params.items()},
                     losses[i], grad_norms[i], pca) for i, spec in enumerate(specs)]


PROCEDURE = Procedure(
    name="linear_ae_pca",
    run=run,
    signature=signature,
    code=("engine.procedures.linear_ae_pca",),
    uses_optimizer=True,
    description="a linear autoencoder trained with full-batch steps, against PCA on the training split",
)
