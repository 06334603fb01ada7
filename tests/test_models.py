"""Every registered model: gradients against finite differences, member independence, dtype, and
the structural facts the claims rely on (RNN parameter sharing, the three recurrence patterns,
the linear autoencoder's linearity, the GAN's game)."""
import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad, value_and_grad
from autograd.test_util import check_grads

from engine.data.ring import ring_centres
from engine.models import MODELS, build_model
from engine.models.classifiers import classifier
from engine.analysis.two_sample import mmd2
from engine.models.layers import Dense, Flatten, Layer, count_params, subtree
from engine.models.tape import value_and_gradient
from engine.models.losses import accuracy, softmax_cross_entropy
from engine.models.rnn import teacher_forced_logits
from engine.precision import FLOAT

K = 2  # members
B = 3  # examples per member


def check(f, params):
    """Reverse-mode gradient against finite differences, in float64 (models train in FLOAT, but
    every layer keeps its inputs' dtype, and differences are only precise in float64)."""
    # check_grads draws its random direction from the global NumPy generator: fix it so that a
    # failure reproduces.
    np.random.seed(0)
    check_grads(f, modes=["rev"], order=1)({name: value.astype(np.float64) for name, value in params.items()})


def info(kind, shape, n_classes=None, **extra):
    return {"kind": kind, "shape": shape, "n_classes": n_classes, **extra}


UNIT = {"x_range": (0.0, 1.0)}
RING = {"centres": ring_centres(4, 2.0), "std": 0.05}

# (model name, dataset info, model params); every registry entry needs at least one case.
CASES = [
    ("logistic", info("image", (1, 4, 4), 3), {}),
    ("mlp", info("signal", (1, 6), 3), {"hidden": (5, 4), "activation": "tanh"}),
    ("mlp", info("sequence", (3, 2), 3), {"hidden": [4]}),
    ("cnn", info("image", (1, 5, 5), 3), {"conv": ((2, 3, 2, 1),), "pool": "avg", "hidden": (4,)}),
    ("cnn", info("signal", (1, 9), 3), {"conv": [[2, 3, 1, 1], [3, 3, 1, 0]], "pool": "max", "pool_size": 2}),
    ("rnn_hh", info("memory", (4, 1), 2), {"hidden": 3}),
    ("rnn_oh", info("memory", (4, 1), 2), {"hidden": 3}),
    ("rnn_last", info("sequence", (3, 2), 3), {"hidden": 4}),
    ("autoencoder", info("image", (1, 3, 3), 10, **UNIT), {"hidden": (4,), "code": 2, "activation": "tanh"}),
    ("autoencoder", info("signal", (1, 5), 10), {"hidden": (4,), "code": 2}),
    ("linear_autoencoder", info("signal", (1, 5), 10), {"code": 2}),
    ("vae", info("image", (1, 3, 3), 10, **UNIT), {"hidden": (4,), "code": 2, "activation": "tanh"}),
    ("gan", info("points", (2,), None, **RING), {"latent_dim": 2, "hidden": (4,)}),
    ("gan", info("image", (1, 2, 2), 10, **UNIT), {"latent_dim": 3, "hidden": (4, 4), "activation": "tanh"}),
    # the slide's zero-sum game: the generator descends E log(1 − d(g(z)))
    ("gan", info("points", (2,), None, **RING), {"latent_dim": 2, "hidden": (4,), "generator_loss": "minimax"}),
    ("gan", info("image", (1, 2, 2), 10, **UNIT), {"latent_dim": 3, "hidden": (4, 4), "activation": "tanh",
                                                   "generator_loss": "minimax"}),
]
IDS = [f"{name}-{i['kind']}" + (f"-{p['generator_loss']}" if "generator_loss" in p else "") for name, i, p in CASES]


def make_batch(model, data_info, rng, b=B):
    shape = tuple(data_info["shape"])
    x = rng.uniform(0, 1, size=(K, b) + shape) if "x_range" in data_info else rng.normal(size=(K, b) + shape)
    batch = {"x": x}
    if data_info["kind"] == "memory":
        y = rng.integers(0, 2, size=(K, b, shape[0]))
        y[..., 0] = -1  # a step without target, as in delayed recall
        batch["y"] = y
    elif data_info["n_classes"] is not None and data_info["kind"] != "points":
        batch["y"] = rng.integers(0, data_info["n_classes"], size=(K, b))
    for name, latent_shape in model.latents.items():
        batch[name] = rng.normal(size=(K, b) + tuple(latent_shape))
    return batch


def setup(case, seed=0):
    name, data_info, params = case
    model = build_model(name, data_info, **params)
    rngs = [np.random.default_rng(seed + m) for m in range(K)]
    return model, model.init(rngs), make_batch(model, data_info, np.random.default_rng(seed + 99))


def test_every_model_has_a_case():
    assert {name for name, _, _ in CASES} == set(MODELS)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_loss_gradients(case):
    model, params, batch = setup(case)
    check(lambda p: model.loss(p, batch), params)
    for player in model.players:
        check(lambda p: player.loss(p, batch), params)


# Models trained on the tape (Model.tape), and cases that add two 2-D convolutions (an image's input
# gradient through a convolution), 1-D average pooling and a recurrence without sharing; every case
# also runs at one example and with one member.
TAPED = {"logistic", "mlp", "cnn", "autoencoder", "linear_autoencoder", "vae", "gan", "rnn_hh", "rnn_oh", "rnn_last"}
TAPE_CASES = [case for case in CASES if case[0] in TAPED] + [
    ("cnn", info("image", (2, 6, 5), 3), {"conv": [[3, 3, 1, 1], [2, 3, 2, 0]], "hidden": (4,), "activation": "tanh"}),
    ("cnn", info("signal", (1, 12), 3), {"conv": [[3, 5, 2, 1]], "pool": "avg"}),
    ("rnn_hh", info("memory", (4, 1), 2), {"hidden": 3, "shared": False}),
]
TAPE_IDS = [f"{name}-{i['kind']}-{n}" for n, (name, i, _) in enumerate(TAPE_CASES)]


def members_of(case, b, dtype, k):
    """``setup(case)`` cut to its first k members, with a batch of b examples, in dtype."""
    model, params, _ = setup(case)
    batch = make_batch(model, case[1], np.random.default_rng(5), b)
    params = {name: value[:k].astype(dtype) for name, value in params.items()}
    batch = {name: (value.astype(dtype) if value.dtype.kind == "f" else value)[:k] for name, value in batch.items()}
    return model, params, batch


def test_the_feed_forward_models_train_on_the_tape():
    assert {name for name, data_info, params in CASES if build_model(name, data_info, **params).tape} == TAPED


@pytest.mark.parametrize("k", [1, K])
@pytest.mark.parametrize("dtype", [FLOAT, np.float64])
@pytest.mark.parametrize("b", [1, B])
@pytest.mark.parametrize("case", TAPE_CASES, ids=TAPE_IDS)
def test_the_tape_gives_autograds_gradient(case, b, dtype, k):
    """Each loss training takes (a GAN's: each player's, with respect to its own parameters, the
    other's held fixed), on the tape and by autograd.grad: the same values and gradients, in
    float32 and float64 (autograd's is checked against finite differences above)."""
    model, params, batch = members_of(case, b, dtype, k)
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if dtype == FLOAT else {"rtol": 1e-12, "atol": 1e-14}
    for prefix, loss in [(p.prefix, p.loss) for p in model.players] or [("", model.loss)]:
        own = {name: value for name, value in params.items() if name.startswith(prefix)}
        frozen = {name: value for name, value in params.items() if name not in own}
        value, grads = value_and_gradient(lambda arrays: loss({**frozen, **arrays}, batch), own)
        expected = grad(lambda arrays: anp.sum(loss({**frozen, **arrays}, batch)))(own)
        np.testing.assert_array_equal(value, loss(params, batch))
        assert value.dtype == dtype and grads.keys() == own.keys()
        for name, g in grads.items():
            assert g.dtype == dtype, name
            np.testing.assert_allclose(g, expected[name], err_msg=name, **tolerance)


def test_a_layer_written_with_numpy_fails_on_the_tape():
    """A layer outside the ops still differentiates by autograd; on the tape it raises TypeError
    rather than giving a silently wrong gradient."""
    doubled = Layer(lambda rng, shape: (tuple(shape), {}), lambda params, x: 2.0 * x, "doubled")
    data_info = info("signal", (1, 6), 3)
    model = classifier("mlp", [Flatten, Dense(4), doubled, Dense(3)], data_info)
    batch = make_batch(model, data_info, np.random.default_rng(1))
    params = model.init([np.random.default_rng(seed) for seed in range(K)])
    check(lambda p: model.loss(p, batch), params)
    with pytest.raises(TypeError):
        value_and_gradient(lambda p: model.loss(p, batch), params)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_shapes_and_dtype(case):
    """Parameters, loss, gradients and metrics stay in FLOAT when the data are in FLOAT: no layer
    promotes to float64 (several of autograd's own VJPs would)."""
    model, params, batch = setup(case)
    batch = {name: value.astype(FLOAT) if value.dtype.kind == "f" else value for name, value in batch.items()}
    assert all(v.dtype == FLOAT and v.shape[0] == K for v in params.values())
    assert count_params(params) == K * model.n_params == K * sum(row["n_params"] for row in model.layers)
    value, grads = value_and_grad(lambda p: anp.sum(model.loss(p, batch)))(params)
    assert np.isfinite(value)
    assert grads.keys() == params.keys()
    for key, g in grads.items():
        assert g.shape == params[key].shape
        # Differentiated alone, an array's gradient comes out as the backward pass computed it
        # (a dict of gradients is cast back to its arrays' dtype, which would hide a promotion).
        alone = grad(lambda a: anp.sum(model.loss({**params, key: a}, batch)))(params[key])
        assert alone.dtype == FLOAT, key
    assert model.loss(params, batch).shape == (K,) and model.loss(params, batch).dtype == FLOAT
    metrics = model.metrics(params, batch)
    assert "loss" in metrics
    for key, value in metrics.items():
        assert np.shape(value) == (K,), key
        assert np.all(np.isfinite(value)), key


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_members_are_independent(case):
    name, data_info, model_params = case
    model = build_model(name, data_info, **model_params)
    together = model.init([np.random.default_rng(1), np.random.default_rng(2)])
    apart = [model.init([np.random.default_rng(seed)]) for seed in (1, 2)]
    for key, value in together.items():
        np.testing.assert_array_equal(value, np.concatenate([apart[0][key], apart[1][key]]))

    batch = make_batch(model, data_info, np.random.default_rng(3))
    moved = {key: value + np.eye(K)[1].reshape((K,) + (1,) * (value.ndim - 1)) for key, value in together.items()}
    losses = [model.loss(together, batch)] + [p.loss(together, batch) for p in model.players]
    moved_losses = [model.loss(moved, batch)] + [p.loss(moved, batch) for p in model.players]
    for before, after in zip(losses, moved_losses):
        assert before[0] == after[0]
        assert before[1] != after[1]
    metrics, moved_metrics = model.metrics(together, batch), model.metrics(moved, batch)
    for key in metrics:
        np.testing.assert_array_equal(metrics[key][0], moved_metrics[key][0], err_msg=key)


def test_factories_check_kind_and_params():
    with pytest.raises(ValueError, match="accepts"):
        MODELS["cnn"].build(info("sequence", (8, 8), 10))
    with pytest.raises(ValueError, match="does not fit"):
        MODELS["cnn"].build(info("signal", (1, 9), 3), conv=((2, 3, 2, 0),), pool="max", pool_size=5)
    with pytest.raises(TypeError, match="no parameter"):
        MODELS["mlp"].build(info("image", (1, 8, 8), 10), hiden=(3,))
    assert MODELS["mlp"].params == {"hidden": (128,), "activation": "relu"}


def test_cross_entropy_and_accuracy_by_hand():
    logits = np.array([[[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]], [[0.0, 0.0, 0.0], [5.0, 1.0, 1.0]]])
    y = np.array([[0, 2], [1, -1]])
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected = [-(np.log(p[0, 0, 0]) + np.log(p[0, 1, 2])) / 2, -np.log(p[1, 0, 1])]
    np.testing.assert_allclose(softmax_cross_entropy(logits, y), expected)
    np.testing.assert_allclose(accuracy(logits, y), [0.5, 0.0])  # a tie goes to the first class


def test_calibrated_cnns_have_the_documented_shapes():
    digits = build_model("cnn", info("image", (1, 8, 8), 10))
    # Feature maps are channels-last inside the CNN, and the convolution's ReLU is part of its
    # layer (one fused primitive): one row.
    assert [row["output_shape"] for row in digits.layers] == [(1, 8, 8), (8, 8, 1), (8, 8, 16), (16, 8, 8), (1024,), (10,)]
    assert digits.layers[2]["name"] == "Conv(16, k=3, s=1, p=1) + ReLU"
    mnist1d = build_model(
        "cnn", info("signal", (1, 40), 10), conv=((25, 5, 2, 1), (25, 3, 2, 1), (25, 3, 2, 1))
    )
    assert [row["output_shape"] for row in mnist1d.layers if row["name"].startswith("Conv")] == [
        (19, 25),
        (10, 25),
        (5, 25),
    ]
    assert mnist1d.layers[-2]["output_shape"] == (125,)


# --- recurrent networks -------------------------------------------------------------------------


@pytest.mark.parametrize("name,kind", [("rnn_hh", "memory"), ("rnn_oh", "memory"), ("rnn_last", "sequence")])
def test_rnn_parameters_do_not_depend_on_length(name, kind):
    """h⁽ᵗ⁾ = f(h⁽ᵗ⁻¹⁾; x⁽ᵗ⁾, θ): one θ for every step, so one θ for every length."""
    short, long = (build_model(name, info(kind, (steps, 2), 3), hidden=5) for steps in (4, 40))
    assert short.n_params == long.n_params
    params = short.init([np.random.default_rng(0), np.random.default_rng(1)])
    assert {k: v.shape for k, v in params.items()} == {
        k: v.shape for k, v in long.init([np.random.default_rng(0)] * 2).items()
    }
    rng = np.random.default_rng(2)
    for steps in (4, 40, 97):
        x = rng.normal(size=(K, B, steps, 2))
        y = rng.integers(0, 3, size=(K, B, steps) if kind == "memory" else (K, B))
        assert short.loss(params, {"x": x, "y": y}).shape == (K,)
        assert np.all(np.isfinite(short.metrics(params, {"x": x, "y": y})["loss"]))


def _logits_after_perturbing_first_input(name):
    model = build_model(name, info("memory", (5, 1), 2), hidden=4)
    params = model.init([np.random.default_rng(0), np.random.default_rng(1)])
    rng = np.random.default_rng(2)
    x = rng.normal(size=(K, B, 5, 1))
    y = rng.integers(0, 2, size=(K, B, 5))
    bumped = x.copy()
    bumped[:, :, 0] += 1.0
    if name == "rnn_oh":
        return teacher_forced_logits(params, x, y), teacher_forced_logits(params, bumped, y)
    logits = model.extras["logits"]
    return logits(params, x), logits(params, bumped)


def test_hidden_recurrence_carries_the_past():
    before, after = _logits_after_perturbing_first_input("rnn_hh")
    assert not np.allclose(before[:, :, 1:], after[:, :, 1:])


def test_output_recurrence_forgets_what_the_output_does_not_say():
    """Pattern 2 under teacher forcing: step t sees x⁽ᵗ⁾ and the target y⁽ᵗ⁻¹⁾ only, so changing
    x⁽¹⁾ changes o⁽¹⁾ and nothing after it."""
    before, after = _logits_after_perturbing_first_input("rnn_oh")
    assert not np.allclose(before[:, :, 0], after[:, :, 0])
    np.testing.assert_array_equal(before[:, :, 1:], after[:, :, 1:])


def test_teacher_forcing_feeds_targets_and_free_running_feeds_outputs():
    model = build_model("rnn_oh", info("memory", (6, 1), 2), hidden=4)
    params = model.init([np.random.default_rng(0), np.random.default_rng(1)])
    rng = np.random.default_rng(3)
    x = rng.normal(size=(K, B, 6, 1))
    y = rng.integers(0, 2, size=(K, B, 6))
    flipped = y.copy()
    flipped[:, :, 2] = 1 - flipped[:, :, 2]
    # Flipping the target of step 3 changes what is fed into step 4, and nothing before.
    forced, forced_flipped = teacher_forced_logits(params, x, y), teacher_forced_logits(params, x, flipped)
    np.testing.assert_array_equal(forced[:, :, :3], forced_flipped[:, :, :3])
    assert not np.allclose(forced[:, :, 3], forced_flipped[:, :, 3])
    # Free running never sees y; at the first step both feed ŷ⁽⁰⁾ = 0, later they differ.
    free = model.extras["logits"](params, x)
    np.testing.assert_array_equal(free[:, :, 0], forced[:, :, 0])
    assert not np.allclose(free[:, :, 1:], forced[:, :, 1:])
    metrics = model.metrics(params, {"x": x, "y": flipped})
    assert set(metrics) == {"loss", "accuracy", "teacher_forced_loss", "teacher_forced_accuracy"}


def test_last_output_reads_the_whole_sequence():
    model = build_model("rnn_last", info("sequence", (5, 2), 3), hidden=4)
    params = model.init([np.random.default_rng(0), np.random.default_rng(1)])
    x = np.random.default_rng(2).normal(size=(K, B, 5, 2))
    bumped = x.copy()
    bumped[:, :, 0] += 1.0
    logits = model.extras["logits"]
    assert logits(params, x).shape == (K, B, 3)
    assert not np.allclose(logits(params, x), logits(params, bumped))


# --- autoencoders -------------------------------------------------------------------------------


def test_linear_autoencoder_is_affine():
    """No nonlinearity anywhere: g(f(x)) is affine in x, and the table has only affine layers."""
    model = build_model("linear_autoencoder", info("image", (1, 3, 3), 10, **UNIT), code=2)
    params = model.init([np.random.default_rng(0), np.random.default_rng(1)])
    rng = np.random.default_rng(2)
    x1, x2 = rng.normal(size=(2, K, B, 1, 3, 3))
    a = 3.7  # an affine combination a x1 + (1 − a) x2, far outside [0, 1] on purpose

    def reconstruct(x):
        return model.extras["decode"](params, model.extras["encode"](params, x))

    np.testing.assert_allclose(reconstruct(a * x1 + (1 - a) * x2), a * reconstruct(x1) + (1 - a) * reconstruct(x2))
    names = [row["name"].split(": ")[1] for row in model.layers]
    assert all(n in ("input", "Flatten", "Reshape(1, 3, 3)") or n.startswith("Dense") for n in names)
    # The nonlinear autoencoder is not affine (so the check above has teeth).
    nonlinear = build_model("autoencoder", info("image", (1, 3, 3), 10, **UNIT), hidden=(4,), code=2)
    p = nonlinear.init([np.random.default_rng(0), np.random.default_rng(1)])
    r = lambda x: nonlinear.extras["decode"](p, nonlinear.extras["encode"](p, x))  # noqa: E731
    assert not np.allclose(r(a * x1 + (1 - a) * x2), a * r(x1) + (1 - a) * r(x2))


def test_autoencoder_code_and_reconstruction_shapes():
    for name in ("autoencoder", "linear_autoencoder", "vae"):
        model = build_model(name, info("image", (1, 8, 8), 10, **UNIT), code=3)
        params = model.init([np.random.default_rng(0), np.random.default_rng(1)])
        x = np.random.default_rng(2).uniform(size=(K, B, 1, 8, 8))
        code = model.extras["encode"](params, x)
        assert code.shape == (K, B, 3)
        assert model.extras["decode"](params, code).shape == x.shape
        assert [r["output_shape"] for r in model.layers if "Dense" in r["name"]][-1] == (64,)


def test_vae_objective_is_reconstruction_plus_kl():
    model = build_model("vae", info("image", (1, 3, 3), 10, **UNIT), hidden=(4,), code=2)
    params = model.init([np.random.default_rng(0), np.random.default_rng(1)])
    batch = make_batch(model, info("image", (1, 3, 3), 10, **UNIT), np.random.default_rng(2))
    metrics = model.metrics(params, batch)
    np.testing.assert_allclose(metrics["loss"], metrics["reconstruction"] + metrics["kl"])
    np.testing.assert_allclose(metrics["loss"], model.loss(params, batch))
    assert np.all(metrics["kl"] >= 0) and np.all(metrics["reconstruction"] > 0)
    assert np.all((0 <= metrics["mse"]) & (metrics["mse"] <= 1))
    # The noise is data: a different draw changes the loss, the same draw gives the same loss.
    other = dict(batch, noise=batch["noise"] + 1.0)
    assert not np.allclose(model.loss(params, other), model.loss(params, batch))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        build_model("vae", info("image", (1, 3, 3), 10))


# --- GAN ----------------------------------------------------------------------------------------


def test_gan_generator_losses_against_their_definitions():
    """minimax: E log(1 − d(g(z))), the part of v the generator moves, so that v − E log d(x) is
    the minimax generator's loss; non-saturating: −E log d(g(z)).  The two differ, the first is
    negative, and an unknown choice is refused by name."""
    ring = info("points", (2,), None, centres=ring_centres(8, 2.0), std=0.02)
    rng = np.random.default_rng(3)
    batch = {"x": ring["centres"][rng.integers(8, size=(K, 32))], "z": rng.normal(size=(K, 32, 4))}
    losses = {}
    for name in ("minimax", "non_saturating"):
        model = build_model("gan", ring, latent_dim=4, hidden=(8,), generator_loss=name)
        params = model.init([np.random.default_rng(0), np.random.default_rng(1)])
        d, fake = model.extras["discriminate"], model.extras["generate"](params, batch["z"])
        d_fake = np.asarray(d(params, fake), dtype=np.float64)
        losses[name] = model.extras["generator_loss"](params, batch)
        assert model.players[1].loss is model.extras["generator_loss"]
        if name == "minimax":
            np.testing.assert_allclose(losses[name], np.mean(np.log1p(-d_fake), axis=1), rtol=1e-5)
            v = -model.extras["discriminator_loss"](params, batch)
            real_part = np.mean(np.log(np.asarray(d(params, batch["x"]), dtype=np.float64)), axis=1)
            np.testing.assert_allclose(losses[name], v - real_part, rtol=1e-5)
        else:
            np.testing.assert_allclose(losses[name], -np.mean(np.log(d_fake), axis=1), rtol=1e-5)
    assert np.all(losses["minimax"] < 0) and np.all(losses["non_saturating"] > 0)
    with pytest.raises(ValueError, match=r"unknown generator_loss 'wasserstein'"):
        build_model("gan", ring, generator_loss="wasserstein")


def test_minimax_generator_gradient_against_finite_differences():
    """The minimax generator's gradient on the tape (the one training uses) against central
    differences of its loss, coordinate by coordinate, in float64."""
    ring = info("points", (2,), None, centres=ring_centres(8, 2.0), std=0.02)
    model = build_model("gan", ring, latent_dim=3, hidden=(5,), generator_loss="minimax")
    params = {k: v.astype(np.float64) for k, v in model.init([np.random.default_rng(4)]).items()}
    rng = np.random.default_rng(5)
    batch = {"x": rng.normal(size=(1, 16, 2)), "z": rng.normal(size=(1, 16, 3))}
    own = {name: value for name, value in params.items() if name.startswith("g.")}
    frozen = {name: value for name, value in params.items() if name not in own}
    _, grads = value_and_gradient(lambda arrays: model.players[1].loss({**frozen, **arrays}, batch), own)
    h = 1e-6
    for name, g in grads.items():
        flat = params[name].ravel()
        for i in range(flat.size):
            step = np.zeros_like(flat)
            step[i] = h
            up = model.players[1].loss({**params, name: (flat + step).reshape(g.shape)}, batch)
            down = model.players[1].loss({**params, name: (flat - step).reshape(g.shape)}, batch)
            assert g.ravel()[i] == pytest.approx(float((up - down)[0]) / (2 * h), rel=1e-5, abs=1e-8), (name, i)


def test_gan_game_on_random_parameters():
    ring = info("points", (2,), None, centres=ring_centres(8, 2.0), std=0.02)
    model = build_model("gan", ring, latent_dim=4, hidden=(8, 8))
    params = model.init([np.random.default_rng(0), np.random.default_rng(1)])
    assert [p.prefix for p in model.players] == ["d.", "g."]
    assert all(k.startswith(("d.", "g.")) for k in params)
    rng = np.random.default_rng(2)
    modes = rng.integers(8, size=(K, 64))
    batch = {"x": ring["centres"][modes] + 0.02 * rng.normal(size=(K, 64, 2)), "z": rng.normal(size=(K, 64, 4))}

    d_loss = model.extras["discriminator_loss"](params, batch)
    g_loss = model.extras["generator_loss"](params, batch)
    assert np.all(np.isfinite(d_loss)) and np.all(np.isfinite(g_loss))
    d = model.extras["discriminate"]
    fake = model.extras["generate"](params, batch["z"])
    assert fake.shape == (K, 64, 2)
    v = np.mean(np.log(d(params, batch["x"])), axis=1) + np.mean(np.log(1 - d(params, fake)), axis=1)
    np.testing.assert_allclose(d_loss, -v)
    np.testing.assert_allclose(g_loss, -np.mean(np.log(d(params, fake)), axis=1))

    # Each player's gradient moves its own parameters; the generator's loss ignores the real data.
    g_grads = grad(lambda p: anp.sum(model.extras["generator_loss"](p, batch)))(params)
    assert any(np.any(v != 0) for v in subtree(g_grads, "g.").values())
    shifted = dict(batch, x=batch["x"] + 5.0)
    np.testing.assert_array_equal(model.extras["generator_loss"](params, shifted), g_loss)

    metrics = model.metrics(params, batch)
    assert np.all((0 < metrics["d_real"]) & (metrics["d_real"] < 1))
    assert np.all((0 < metrics["d_fake"]) & (metrics["d_fake"] < 1))
    assert np.all(metrics["mmd"] > 0)  # an untrained generator is far from the ring
    # untrained, the generator's samples sit in a small blob near the origin: no mode is covered
    np.testing.assert_array_equal(metrics["modes"], [0, 0])
    assert np.all((0 <= metrics["high_quality"]) & (metrics["high_quality"] <= 1))
    # A collapsed generator, g ≡ 0: every fake sits at the origin, 2 away from every centre.
    collapsed = {k: (np.zeros_like(v) if k.startswith("g.") else v) for k, v in params.items()}
    m = model.metrics(collapsed, batch)
    np.testing.assert_array_equal(m["modes"], [0, 0])
    np.testing.assert_array_equal(m["high_quality"], [0.0, 0.0])


def test_mmd_separates_distributions():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 1, 200, 2))
    same = mmd2(a, b)
    shifted = mmd2(a, b + 1.0)
    assert abs(same[0]) < 0.02 < shifted[0]
    np.testing.assert_allclose(mmd2(a, b, bandwidth=1.0), mmd2(b, a, bandwidth=1.0))


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_an_unknown_activation_is_refused_by_name(kind):
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; choose from \['relu', 'tanh'\]"):
        build_model(kind, info("signal", (1, 40), 10), activation="swish")


def test_layer_table_shows_the_lectures_layers_channels_first():
    """The report's table: layers that only move the channel axis are marked, and every shape has
    its channels-first form (the 1-D CNN's maps are 25 channels × 19, 10, 5 positions)."""
    mnist1d = build_model("cnn", info("signal", (1, 40), 10), conv=((25, 5, 2, 1), (25, 3, 2, 1), (25, 3, 2, 1)))
    shown = [(row["name"], row["channels_first_shape"]) for row in mnist1d.layers if not row["layout"]]
    assert [shape for name, shape in shown if name.startswith("Conv")] == [(25, 19), (25, 10), (25, 5)]
    assert [name for name, _ in shown][:1] + [name for name, _ in shown][-2:] == ["input", "Flatten", "Dense(10)"]
    assert sum(row["layout"] for row in mnist1d.layers) == 2


def test_bench_counts_the_cnns_multiply_adds_by_hand():
    """The roofline's arithmetic (engine/bench.py) from the layer table, against the MNIST-1D CNN
    counted by hand: positions × window × channels × kernels per layer, per example
    19·5·1·25 + 10·3·25·25 + 5·3·25·25 + 125·10 = 31,750, and a step is three times that."""
    from engine.bench import flops_per_step, matmul_shapes

    mnist1d = build_model("cnn", info("signal", (1, 40), 10), conv=((25, 5, 2, 1), (25, 3, 2, 1), (25, 3, 2, 1)))
    assert matmul_shapes(mnist1d.layers, 100) == [(1900, 5, 25, 1), (1000, 75, 25, 1), (500, 75, 25, 1), (100, 125, 10, 1)]
    assert flops_per_step("cnn", mnist1d.layers, 100) == 2 * 3 * 100 * 31_750
    rnn = build_model("rnn_last", info("sequence", (8, 8), 10), hidden=64)
    # h⁽ᵗ⁾ = tanh(b + W h⁽ᵗ⁻¹⁾ + U x⁽ᵗ⁾): one (B, 64 + 8) × (72, 64) product per step, 8 steps
    assert matmul_shapes(rnn.layers, 64)[0] == (64, 72, 64, 8)
