"""conv-operation and conv-features: the conv_check procedure, the shuffled MNIST-1D control, the
CNN's artifacts and both analyses on synthetic records, each against an independent reference."""
import numpy as np
import pytest
from scipy.signal import correlate

from engine.claims import CLAIMS
from engine.claims.conv_features import analyze as analyze_features
from engine.claims.conv_features import high_frequency_share, initial_kernels, random_share
from engine.claims.conv_operation import analyze as analyze_operation
from engine.data import DATASETS, load_dataset
from engine.models import build_model
from engine.models.conv import kernels
from engine.precision import FLOAT
from engine.procedures import PROCEDURES
from tests.test_record import make_record

SMALL = {"num_samples": 300}


def conv_specs(seeds, **params):
    proc = PROCEDURES["conv_check"]
    return [{"seed": s, "study": "conv-check", "claim": "conv-operation",
             "model": {"name": "cnn-mnist1d", "kind": "cnn", "params": {}},
             "dataset": {"name": "mnist1d", "kind": "mnist1d", "params": {**DATASETS["mnist1d"].params, **SMALL}},
             "procedure": {"kind": "conv_check", "params": proc.resolve(params)}} for s in seeds]


@pytest.fixture(scope="module")
def conv_outcomes():
    return PROCEDURES["conv_check"].run(conv_specs([0, 1, 2], kernels=[1, 3], strides=[1, 2, 3]))


def test_conv_check_agrees_with_scipy(conv_outcomes):
    for out in conv_outcomes:
        f, h = out["final"], out["history"]
        assert out["status"] == "ok"
        assert f["max_abs_diff"] < 1e-12 and f["sizes_match"] == 1.0
        # 2 dimensions × 2 kernels × 3 strides × 3 paddings, none empty here
        assert f["n_cases"] == 36 == len(h["dim"])
        n = np.asarray(h["n"]); k = np.asarray(h["kernel"]); s = np.asarray(h["stride"]); p = np.asarray(h["padding"])
        # The formula, checked against a count of the windows that fit (independent of conv.py).
        fits = [len(range(0, n_ + 2 * p_ - k_ + 1, s_)) for n_, k_, s_, p_ in zip(n, k, s, p)]
        assert h["n_out"] == fits == h["n_out_scipy"]
        assert max(h["scale"]) > 1.0   # the differences are small relative to real outputs


def test_conv_check_seed_is_a_member_alone_or_in_a_group(conv_outcomes):
    alone = PROCEDURES["conv_check"].run(conv_specs([1], kernels=[1, 3], strides=[1, 2, 3]))[0]
    assert alone["history"] == conv_outcomes[1]["history"]
    assert conv_outcomes[0]["history"]["scale"] != conv_outcomes[1]["history"]["scale"]


def test_conv_check_detects_a_wrong_convolution(monkeypatch):
    import engine.procedures.conv_check as cc

    right = cc.conv
    # The lecture's x ∗ w taken literally (kernel flipped, the flip not undone) differs from SciPy's
    # correlate: the check must see it.
    monkeypatch.setattr(cc, "conv", lambda x, w, b, s, p: right(x, np.flip(w, axis=tuple(range(3, w.ndim))), b, s, p))
    out = cc.run(conv_specs([0], kernels=[3], strides=[1], paddings=[0]))[0]
    assert out["final"]["max_abs_diff"] > 1e-3


def test_demo_slides_the_kernel_over_a_real_signal(conv_outcomes):
    demo = conv_outcomes[0]["artifacts"]["demo"]
    data = load_dataset("mnist1d", **SMALL)
    x = data.x_test[0, 0]
    assert demo["signal"] == x.tolist()
    w, s, p = np.asarray(demo["kernel"]), demo["stride"], demo["padding"]
    by_hand = [sum(np.pad(x, p)[i * s + a] * w[a] for a in range(len(w)))
               for i in range((len(x) + 2 * p - len(w)) // s + 1)]
    np.testing.assert_allclose(demo["output"], by_hand, atol=1e-12)
    np.testing.assert_allclose(demo["output"], demo["reference"], atol=1e-12)
    assert demo["window_starts"][:3] == [-p, s - p, 2 * s - p]


def test_conv_operation_analysis(conv_outcomes):
    records = [make_record(spec, **out) for spec, out in zip(conv_specs([0, 1, 2]), conv_outcomes)]
    analysis = analyze_operation(records, CLAIMS["conv-operation"].text("en"), {})
    assert analysis.quantities["max_abs_diff"].n == 3 and analysis.quantities["max_abs_diff"].high < 1e-12
    assert analysis.quantities["sizes_match"].mean == 1.0
    assert [f["id"] for f in analysis.figures] == ["conv-operation-sliding"]
    assert len(analysis.tables[0]["rows"]) == 2 * 3 * 3
    assert all(len(r) == len(analysis.tables[0]["columns"]) for r in analysis.tables[0]["rows"])


# ------------------------------------------------------------------ shuffled MNIST-1D


def test_mnist1d_default_is_unchanged_and_permutation_is_one_fixed_shuffle():
    plain = load_dataset("mnist1d", **SMALL)
    same = load_dataset("mnist1d", permute_seed=None, **SMALL)
    assert same is plain and "permutation" not in plain.info
    shuffled = load_dataset("mnist1d", permute_seed=3, **SMALL)
    perm = np.random.default_rng(3).permutation(40)
    assert shuffled.info["permutation"] == perm.tolist()
    assert sorted(perm.tolist()) == list(range(40)) and (perm != np.arange(40)).any()
    for split in ("train", "val", "test"):
        x, y = plain.split(split)
        xs, ys = shuffled.split(split)
        np.testing.assert_array_equal(xs, x[:, :, perm])
        np.testing.assert_array_equal(ys, y)


# ------------------------------------------------------------------ CNN artifacts


def test_cnn_artifacts_are_kernels_and_feature_maps():
    data = load_dataset("mnist1d", **SMALL)
    model = build_model("cnn", data.info, conv=[[4, 5, 2, 1], [3, 3, 2, 1]])
    params = model.init([np.random.default_rng(i) for i in range(2)])
    art = model.artifacts(params, data, None)
    w = kernels(params["1.w"], (5,))   # the layer's matrix as (K, O, C, k) kernels
    np.testing.assert_array_equal(art["kernels"], w)
    assert art["example"].shape == (2, 1, 40) and art["example_label"].tolist() == [data.y_test[0]] * 2
    assert art["maps_0"].shape == (2, 4, 19) and art["maps_1"].shape == (2, 3, 10)
    # The first map, recomputed with SciPy: ReLU of the strided correlation over the padded input.
    for k in range(2):
        for o in range(4):
            ref = correlate(np.pad(data.x_test[0, 0], 1), w[k, o, 0], mode="valid")[::2] + params["1.b"][k, o]
            # the maps are computed in FLOAT, the reference in float64
            np.testing.assert_allclose(art["maps_0"][k, o], np.maximum(ref, 0), atol=10 * np.finfo(FLOAT).eps)
    assert build_model("mlp", data.info).artifacts is None


# ------------------------------------------------------------------ conv-features analysis


def test_high_frequency_share_against_numpy_fft():
    """H(w) = energy at the non-zero frequencies of the kernel's DFT over all its energy, computed
    by numpy.fft: 1-D kernels of 5 taps and 2-D kernels of 3×3, two input channels."""
    rng = np.random.default_rng(0)
    for shape in ((6, 2, 5), (4, 2, 3, 3)):
        w = rng.standard_normal(shape)
        spectrum = np.abs(np.fft.fftn(w, axes=tuple(range(2, w.ndim)))) ** 2
        spectrum = spectrum.reshape(shape[0] * shape[1], -1)
        np.testing.assert_allclose(high_frequency_share(w), 1 - spectrum[:, 0] / spectrum.sum(axis=1), rtol=1e-12)


def test_high_frequency_share_by_hand():
    w = np.array([[[-1.0, 1.0]], [[1.0, 1.0]], [[1.0, 0.0]], [[-1.0, 0.0]]])   # (O = 4, C = 1, 2 taps)
    np.testing.assert_allclose(high_frequency_share(w), [1.0, 0.0, 0.5, 0.5])
    sobel = np.array([[[[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]]])
    box = np.ones((1, 1, 3, 3))
    np.testing.assert_allclose(high_frequency_share(np.concatenate([sobel, box])), [1.0, 0.0], atol=1e-15)


@pytest.mark.parametrize("taps", [5, 9])
def test_random_share_against_monte_carlo(taps):
    """Random kernels, Gaussian and uniform (as the initialisation draws them): mean H = 1 − 1/n."""
    rng = np.random.default_rng(1)
    for draw in (rng.standard_normal, lambda size: rng.uniform(-1, 1, size)):
        h = high_frequency_share(draw((200_000, 1, taps)))
        assert abs(h.mean() - random_share(taps)) < 4 * h.std() / np.sqrt(h.size)


def test_initial_kernels_are_the_trainers_initialisation():
    """With a zero step the trained kernels are the initial ones: the analysis rebuilds exactly
    what the trainer drew from the run's seed."""
    from engine.optim import OPTIMIZERS
    from engine.training.network import train_network_group

    data = {**DATASETS["mnist1d"].params, **SMALL}
    specs = [{"study": "t", "claim": "conv-features", "vary": {}, "seed": seed, "batch": 100, "clip_norm": None,
              "model": {"name": "cnn", "kind": "cnn", "params": {"conv": [[4, 5, 2, 1]]}},
              "dataset": {"name": "m", "kind": "mnist1d", "params": data},
              "optimizer": {"name": "sgd", "kind": "sgd", "hp": OPTIMIZERS["sgd"].resolve({"lr": 0.0})},
              "budget": {"epochs": 1, "evals": 1}} for seed in (3, 4)]
    for spec, out in zip(specs, train_network_group(specs)):
        rec = make_record({k: spec[k] for k in ("seed", "model", "dataset")})
        np.testing.assert_array_equal(initial_kernels(rec), np.asarray(out["artifacts"]["kernels"]))
    first, second = (initial_kernels(make_record({k: spec[k] for k in ("seed", "model", "dataset")})) for spec in specs)
    assert not np.array_equal(first, second)   # each seed its own draw


def _condition(cond):
    params = {**DATASETS["mnist1d" if cond != "digits" else "digits"].params}
    if cond != "digits":
        params.update(SMALL)
        if cond == "shuffled":
            params["permute_seed"] = 0
    return {"name": cond, "kind": "digits" if cond == "digits" else "mnist1d", "params": params}


def feature_record(cond, kind, seed, acc, kernels=None):
    model = {"cnn": {"conv": [[4, 5, 2, 1]]}, "mlp": {"hidden": [64]}}[kind] if cond != "digits" else \
        {"cnn": {"conv": [[4, 3, 1, 1]]}, "mlp": {"hidden": [64]}}[kind]
    return make_record({"seed": seed, "batch": 100, "budget": {"epochs": 3},
                        "optimizer": {"name": "adam", "hp": {"lr": 0.01}},
                        "dataset": _condition(cond),
                        "model": {"name": f"{kind}-{cond}", "kind": kind, "params": model}},
                       final={"test_accuracy": acc, "seconds": 1.0},
                       artifacts={} if kernels is None else {"kernels": kernels})


def test_conv_features_analysis_on_known_answers():
    acc = {("mnist1d", "cnn"): [0.93, 0.94, 0.95], ("mnist1d", "mlp"): [0.66, 0.68, 0.70],
           ("shuffled", "cnn"): [0.55, 0.56, 0.57], ("shuffled", "mlp"): [0.67, 0.68, 0.69],
           ("digits", "cnn"): [0.97, 0.98, 0.99], ("digits", "mlp"): [0.97, 0.97, 0.97]}
    # Learnt MNIST-1D kernels: four difference filters (H = 1) with seed 0, four constant ones
    # (H = 0) with seed 1, two of each with seed 2.
    edge, flat = [[[-1.0, -1.0, 0.0, 1.0, 1.0]]], [[[1.0] * 5]]
    learnt = {0: edge * 4, 1: flat * 4, 2: edge * 2 + flat * 2}
    records = [feature_record(c, m, s, a, learnt[s] if (c, m) == ("mnist1d", "cnn") else None)
               for (c, m), values in acc.items() for s, a in enumerate(values)]
    analysis = analyze_features(records, CLAIMS["conv-features"].text("es"), {})
    q = analysis.quantities
    assert q["cnn_accuracy_mnist1d"].mean == pytest.approx(0.94)
    assert q["advantage_mnist1d"].values == pytest.approx((0.27, 0.26, 0.25))
    assert q["advantage_shuffled"].mean == pytest.approx(-0.12)
    assert q["advantage_digits"].values == pytest.approx((0.0, 0.01, 0.02))
    # mnist1d: MLP 40·64+64+650 = 3,274; CNN 4·5+4 + 4·19·10+10 = 794; digits: CNN 4·9+4 + 4·64·10+10
    # = 2,610, MLP 64·64+64+650 = 4,810; the smallest ratio, exact.
    assert analysis.numbers["mnist1d"]["params_ratio"] == pytest.approx(3274 / 794)
    assert q["params_ratio"].method == "exact" and q["params_ratio"].mean == pytest.approx(4810 / 2610)
    # Edge gains against the initial kernels, computed independently from the seed's generator.
    initial = []
    for seed in range(3):
        model = build_model("cnn", load_dataset("mnist1d", **SMALL).info, conv=[[4, 5, 2, 1]])
        w = model.init([np.random.default_rng([seed, 0])])["1.w"]
        initial.append(float(np.mean(1 - np.sum(kernels(w, (5,))[0], axis=(1, 2)) ** 2
                                     / (5 * np.sum(kernels(w, (5,))[0] ** 2, axis=(1, 2))))))
    assert q["edge_gain_mnist1d"].values == pytest.approx([1 - initial[0], 0 - initial[1], 0.5 - initial[2]])
    assert q["edge_gain_digits"] is None and q["edge_gain_shuffled"] is None
    assert analysis.numbers["mnist1d"]["edges"]["random_share"] == pytest.approx(0.8)
    assert analysis.numbers["mnist1d"]["cnn"]["paper"] == 0.94
    assert [f["id"] for f in analysis.figures] == ["conv-features-accuracy", "conv-features-edges",
                                                   "conv-features-kernels"]
    # Tables: results + layer shapes of 2 data sets.
    assert len(analysis.tables) == 3
    for table in analysis.tables:
        assert all(len(r) == len(table["columns"]) for r in table["rows"])
