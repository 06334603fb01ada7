r"""Gradient noise: how a minibatch gradient scatters around the full gradient, at fixed parameters.

The lecture's cost is an average over the training set, $J(\theta) = \frac{1}{N}\sum_i
J_i(\theta)$, so its gradient $g = \frac{1}{N}\sum_i g_i$ is the expectation of $g_i$ over a
uniformly drawn example, and the mean $g_B$ over a minibatch of $B$ examples drawn *without
replacement* is an unbiased estimate of it, with

    $E\|g_B - g\|^2 = \frac{\sigma^2}{B}\,\frac{N - B}{N - 1}$,  $\sigma^2 = \frac{1}{N}\sum_i \|g_i - g\|^2$

(the finite-population correction of sampling without replacement).

For every member (seed) of the group, the procedure trains the model with the study's optimizer
and batch size, stopping at each of ``train_steps`` (0 = the initialisation) to measure, at those
fixed parameters:

* the per-example gradients $g_i$ of the first ``n_examples`` training examples (all of them when
  None), computed in one autograd pass by treating the examples as members of the model's member
  axis (the parameters broadcast to (N, …)): $g_B$ of any minibatch is then the mean of its rows,
  exactly the gradient of the minibatch loss (linearity; tests/test_claim_minibatch.py checks it);
* for each B in ``batch_sizes`` (those below N), ``draws`` independent minibatches, each drawn
  without replacement: $E\|g_B - g\|^2$ as the mean over draws of $\|g_B - g\|^2$ (computed with
  the Gram matrix of the centred per-example gradients, $\|\sum_{i \in S}(g_i - g)\|^2 = 1_S^\top C
  1_S$, which is exact and N/P times cheaper than forming each $g_B$), its standard error, and the
  bias $\|\bar g_B - g\|$ of the mean over the draws with its standard error
  $\sqrt{E\|g_B - g\|^2 / \text{draws}}$ (the norm expected from sampling noise alone);
* the fitted slope of $\log(E\|g_B - g\|^2\,(N-1)/(N-B))$ against $\log B$ (−1 by the law) and
  the largest bias-to-standard-error ratio over B.
"""
from __future__ import annotations

import numpy as np
from autograd import grad

from engine.data import DATASETS
from engine.models import MODELS
from engine.procedures import Procedure
from engine.training.loop import Members
from engine.training.network import FlatBlock, member_rngs

DRAW_STREAM = 6       # generator stream of the minibatch draws (0-3 are the trainer's)
EXAMPLE_CHUNK = 512   # per-example gradients are computed this many examples at a time


def signature(*, train_steps=(0, 100), batch_sizes=(1, 2, 4, 8, 16, 32, 64, 128, 256), draws=1000,
              n_examples=None):
    """train_steps: optimizer steps before each measurement (0 = initialisation); batch_sizes: the
    minibatch sizes B (those ≥ N are skipped); draws: minibatches per B; n_examples: size N of
    the population (the first n_examples training examples; None = the whole training split)."""


def per_example_gradients(model, block: FlatBlock, params: dict, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N, P): row i is ∇θ of example i's loss at ONE member's parameters (``params`` with K = 1).

    The examples become members: every parameter is broadcast to (n, …) without copying, each
    member sees one example, and the gradient of the sum of the members' losses is every example's
    own gradient."""
    if model.latents:
        raise ValueError("gradient_noise needs a model without noise inputs (latents)")
    rows = []
    for start in range(0, x.shape[0], EXAMPLE_CHUNK):
        xs, ys = x[start:start + EXAMPLE_CHUNK], y[start:start + EXAMPLE_CHUNK]
        n = xs.shape[0]
        wide = {name: np.broadcast_to(value, (n,) + value.shape[1:]) for name, value in params.items()}
        batch = {"x": xs[:, None], "y": ys[:, None]}
        g = grad(lambda p: np.sum(model.loss(p, batch)))(wide)
        rows.append(block.pack(g))
    return np.concatenate(rows, axis=0)


def draw_subsets(rng: np.random.Generator, n: int, b: int, draws: int) -> np.ndarray:
    """(draws, b): each row b distinct examples of n drawn uniformly (without replacement)."""
    keys = rng.random((draws, n))
    if b == 1:   # the one smallest key, argpartition's choice, found at a tenth of its cost
        return np.argmin(keys, axis=1)[:, None]
    return np.argpartition(keys, b - 1, axis=1)[:, :b]


def indicators(chosen: np.ndarray, n: int) -> np.ndarray:
    """(draws, n) 0/1 rows marking each row's chosen examples."""
    z = np.zeros((chosen.shape[0], n))
    np.put_along_axis(z, chosen, 1.0, axis=1)
    return z


def draw_indicators(rng: np.random.Generator, n: int, b: int, draws: int) -> np.ndarray:
    """(draws, n) 0/1 rows, each marking b distinct examples drawn uniformly (without replacement)."""
    return indicators(draw_subsets(rng, n, b, draws), n)


def subset_sums(gram: np.ndarray, chosen: np.ndarray, gram64: np.ndarray | None = None) -> np.ndarray:
    """1_Sᵀ C 1_S = Σ_{i,j ∈ S} C_ij for the subset S of each row of ``chosen`` (draws, b).

    Small subsets gather their b × b blocks (draws · b² values read); large ones multiply the 0/1
    indicator rows by C (draws · N² multiply-adds): here a gathered value costs about as much as
    180 multiply-adds of that product, so the blocks win below b ≈ N / 13.  Both are exact sums
    of the same terms, in a different order (the last bits differ).  The product is in float64:
    ``gram64``, C in float64, when the caller has it (else C is converted here)."""
    draws, b = chosen.shape
    n = gram.shape[0]
    if 180 * b * b >= n * n:
        z = indicators(chosen, n)
        return np.einsum("mn,mn->m", z @ (gram if gram64 is None else gram64), z)
    chunk = max(1, (1 << 21) // (b * b))   # draws per gather: at most 16 MB of blocks
    out = np.empty(draws)
    flat = gram.ravel()
    for start in range(0, draws, chunk):
        rows = chosen[start:start + chunk]
        # C_ij at i·N + j: np.take of flat indices reads the same values in the same order as
        # indexing C with the two index arrays, in about half the time
        block = np.take(flat, rows[:, :, None] * n + rows[:, None, :])
        # summed in float64, as the product above promotes a float32 Gram matrix
        out[start:start + chunk] = block.sum(axis=(1, 2), dtype=np.float64)
    return out


def noise_statistics(G: np.ndarray, batch_sizes, draws: int, rng: np.random.Generator) -> dict:
    """Everything the claim reads, from the per-example gradients G (N, P) of one member."""
    n = G.shape[0]
    g = G.mean(axis=0)
    centred = G - g
    gram = centred @ centred.T                      # C_ij = (g_i − g)·(g_j − g)
    sigma2 = float(np.trace(gram) / n)              # (1/N) Σ ‖g_i − g‖²
    gram64 = gram.astype(np.float64)                # for the products with float64 vectors: converted once
    out = {"n": n, "p": G.shape[1], "grad_norm": float(np.linalg.norm(g)), "sigma2": sigma2,
           "batch_sizes": [], "variance": [], "variance_se": [], "theory": [], "bias": [], "bias_se": []}
    for b in batch_sizes:
        b = int(b)
        if b >= n:
            continue
        chosen = draw_subsets(rng, n, b, draws)
        sq = subset_sums(gram, chosen, gram64) / b ** 2        # ‖g_B − g‖² per draw
        sq = np.maximum(sq, 0.0)
        w = np.bincount(chosen.ravel(), minlength=n) / (draws * b)   # mean over draws of the 1_S / B
        bias = float(np.sqrt(max(w @ gram64 @ w, 0.0)))        # ‖mean_m g_B − g‖
        variance = float(sq.mean())
        out["batch_sizes"].append(b)
        out["variance"].append(variance)
        out["variance_se"].append(float(sq.std(ddof=1) / np.sqrt(draws)))
        out["theory"].append(sigma2 / b * (n - b) / (n - 1))
        out["bias"].append(bias)
        out["bias_se"].append(float(np.sqrt(variance / draws)))
    bs = np.asarray(out["batch_sizes"], dtype=float)
    corrected = np.asarray(out["variance"]) * (n - 1) / (n - bs)
    out["slope"] = float(np.polyfit(np.log(bs), np.log(corrected), 1)[0]) if len(bs) >= 2 else None
    ratios = [b / s for b, s in zip(out["bias"], out["bias_se"]) if s > 0]
    out["bias_ratio_max"] = float(max(ratios)) if ratios else None
    return out


def run(specs: list[dict]) -> list[dict]:
    s0 = specs[0]
    params_cfg = s0["procedure"]["params"]
    data = DATASETS[s0["dataset"]["kind"]].load(None, **s0["dataset"]["params"])
    model = MODELS[s0["model"]["kind"]].build(data.info, **s0["model"]["params"])
    k = len(specs)
    n_total = data.x_train.shape[0]
    n = n_total if params_cfg["n_examples"] is None else min(int(params_cfg["n_examples"]), n_total)
    x_pop, y_pop = data.x_train[:n], data.y_train[:n]
    checkpoints = sorted({int(t) for t in params_cfg["train_steps"]})

    params = model.init(member_rngs(specs, 0))
    block = FlatBlock(params, "")
    members = Members(specs, [block.pack(params)], s0.get("clip_norm"))
    batch_rngs = member_rngs(specs, 1)
    draw_rngs = member_rngs(specs, DRAW_STREAM)
    batch = n_total if s0["batch"] in ("full", None) else min(int(s0["batch"]), n_total)
    steps_per_epoch = n_total // batch
    order = None
    history = [{"train_steps": [], "train_loss": [], "points": []} for _ in range(k)]

    step = 0
    for target in checkpoints:
        while step < target:
            position = step % steps_per_epoch
            if position == 0:
                order = [rng.permutation(n_total) for rng in batch_rngs]
            idx = np.stack([o[position * batch:(position + 1) * batch] for o in order])
            mb = {"x": data.x_train[idx], "y": data.y_train[idx]}
            values, grads = block.loss_and_gradient(lambda p: model.loss(p, mb), members.thetas[0], model.tape)
            members.check_finite(np.asarray(values), step, parameters=False)
            members.step(0, grads)
            step += 1
        current = block.unpack(members.thetas[0])
        losses = np.asarray(model.loss(current, {"x": np.broadcast_to(x_pop, (k,) + x_pop.shape),
                                                 "y": np.broadcast_to(y_pop, (k,) + y_pop.shape)}))
        for i in range(k):
            if members.diverged_at[i] is not None:
                continue
            one = {name: value[i:i + 1] for name, value in current.items()}
            G = per_example_gradients(model, block, one, x_pop, y_pop)
            stats = noise_statistics(G, params_cfg["batch_sizes"], int(params_cfg["draws"]), draw_rngs[i])
            history[i]["train_steps"].append(target)
            history[i]["train_loss"].append(float(losses[i]))
            history[i]["points"].append(stats)

    outcomes = []
    for i in range(k):
        diverged = members.diverged_at[i]
        h = history[i]
        final = {"n_examples": n, "n_params": int(block.pack(params).shape[1]), "draws": int(params_cfg["draws"])}
        for t, point, loss in zip(h["train_steps"], h["points"], h["train_loss"]):
            final[f"slope_t{t}"] = point["slope"]
            final[f"bias_ratio_max_t{t}"] = point["bias_ratio_max"]
            final[f"train_loss_t{t}"] = loss
        outcomes.append({"status": "diverged" if diverged is not None else "ok",
                         "diverged_at_step": diverged, "history": h, "final": final})
    return outcomes


PROCEDURE = Procedure(
    name="gradient_noise",
    run=run,
    signature=signature,
    code=("engine.procedures.gradient_noise",),
    uses_optimizer=True,
    description="bias and variance of minibatch gradients against B, at fixed parameters (init and part-way)",
)
