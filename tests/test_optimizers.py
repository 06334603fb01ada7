"""The optimizers against the lecture's formulas (worked by hand) and against autograd.misc.

Hand-worked values use θ_0 = [1, −1] and the gradients g_1 = [0.3, −4], g_2 = [0.4, 2],
g_3 = [−1.2, 1], chosen so that the squares and square roots stay readable.
"""
import copy
import io

import matplotlib
import numpy as np
import pytest
from autograd.misc import optimizers as ag

from engine.optim import OPTIMIZERS, Hyperparameter, OptimizerRule

THETA0 = np.array([1.0, -1.0])
GRADS = [np.array([0.3, -4.0]), np.array([0.4, 2.0]), np.array([-1.2, 1.0])]


def run(name, hp, grads, theta=THETA0, state=None):
    """The iterates θ_1, θ_2, ... and the final state, given a fixed gradient sequence."""
    rule = OPTIMIZERS[name]
    hp = rule.resolve(hp)
    state = rule.init(theta) if state is None else state
    thetas = []
    for g in grads:
        theta, state = rule.update(theta, g, state, hp)
        thetas.append(theta)
    return np.array(thetas), state


# 1. Three steps by hand, from the lecture's formulas --------------------------------------------

def test_sgd_by_hand():
    # θ_{t+1} = θ_t − λ g_t, λ = 0.1
    expected = [[1.0 - 0.03, -1.0 + 0.4],     # [0.97, -0.6]
                [0.97 - 0.04, -0.6 - 0.2],    # [0.93, -0.8]
                [0.93 + 0.12, -0.8 - 0.1]]    # [1.05, -0.9]
    thetas, _ = run('sgd', {'lr': 0.1}, GRADS)
    np.testing.assert_allclose(thetas, expected, rtol=1e-12)


def test_momentum_by_hand():
    # v_t = 0.1 g_t + 0.9 v_{t−1}; θ_{t+1} = θ_t − 0.1 v_t
    # v_1 = [0.03, -0.4]                              θ_1 = [1 - 0.003, -1 + 0.04]
    # v_2 = [0.04 + 0.027, 0.2 - 0.36] = [0.067, -0.16]      θ_2 = θ_1 - [0.0067, -0.016]
    # v_3 = [-0.12 + 0.0603, 0.1 - 0.144] = [-0.0597, -0.044] θ_3 = θ_2 - [-0.00597, -0.0044]
    expected = [[0.997, -0.96], [0.9903, -0.944], [0.99627, -0.9396]]
    thetas, state = run('momentum', {'lr': 0.1, 'beta': 0.9}, GRADS)
    np.testing.assert_allclose(thetas, expected, rtol=1e-12)
    np.testing.assert_allclose(state['v'], [-0.0597, -0.044], rtol=1e-12)


def test_adagrad_by_hand():
    # v_1 = [0.09, 16], v_2 = [0.25, 20], v_3 = [1.69, 21]; θ ← θ − 0.1 g / √(v + 0.01)
    t1 = [1.0 - 0.1 * 0.3 / np.sqrt(0.09 + 0.01), -1.0 - 0.1 * -4.0 / np.sqrt(16.0 + 0.01)]
    t2 = [t1[0] - 0.1 * 0.4 / np.sqrt(0.25 + 0.01), t1[1] - 0.1 * 2.0 / np.sqrt(20.0 + 0.01)]
    t3 = [t2[0] - 0.1 * -1.2 / np.sqrt(1.69 + 0.01), t2[1] - 0.1 * 1.0 / np.sqrt(21.0 + 0.01)]
    hp = {'lr': 0.1, 'eps': 0.01}
    thetas, state = run('adagrad', hp, GRADS)
    np.testing.assert_allclose(thetas, [t1, t2, t3], rtol=1e-12)
    np.testing.assert_allclose(state['v'], [1.69, 21.0], rtol=1e-12)
    step = OPTIMIZERS['adagrad'].effective_step(state, OPTIMIZERS['adagrad'].resolve(hp))
    np.testing.assert_allclose(step, [0.1 / np.sqrt(1.70), 0.1 / np.sqrt(21.01)], rtol=1e-12)


def test_rmsprop_by_hand():
    # v_t = 0.9 v_{t−1} + 0.1 g_t²; θ ← θ − 0.1 g / (√v + 0.01)
    # v_1 = [0.009, 1.6]
    # v_2 = [0.0081 + 0.016, 1.44 + 0.4] = [0.0241, 1.84]
    # v_3 = [0.02169 + 0.144, 1.656 + 0.1] = [0.16569, 1.756]
    t1 = [1.0 - 0.1 * 0.3 / (np.sqrt(0.009) + 0.01), -1.0 - 0.1 * -4.0 / (np.sqrt(1.6) + 0.01)]
    t2 = [t1[0] - 0.1 * 0.4 / (np.sqrt(0.0241) + 0.01), t1[1] - 0.1 * 2.0 / (np.sqrt(1.84) + 0.01)]
    t3 = [t2[0] - 0.1 * -1.2 / (np.sqrt(0.16569) + 0.01),
          t2[1] - 0.1 * 1.0 / (np.sqrt(1.756) + 0.01)]
    thetas, state = run('rmsprop', {'lr': 0.1, 'beta': 0.9, 'eps': 0.01}, GRADS)
    np.testing.assert_allclose(thetas, [t1, t2, t3], rtol=1e-12)
    np.testing.assert_allclose(state['v'], [0.16569, 1.756], rtol=1e-12)


def test_adam_by_hand():
    # β1 = 0.9, β2 = 0.999, α = 0.1, ε = 1e-8
    # m_1 = [0.03, -0.4],      v_1 = [0.00009, 0.016]
    #   (m̂_1 = m_1/0.1 = g_1 and v̂_1 = v_1/0.001 = g_1², so the first step is α·sign(g_1))
    # m_2 = [0.067, -0.16],    v_2 = [0.00016 + 0.00008991, 0.004 + 0.015984]
    # m_3 = [-0.0597, -0.044], v_3 = [0.00144 + 0.00024966009, 0.001 + 0.019964016]
    # 1 − β1^t = 0.1, 0.19, 0.271;  1 − β2^t = 0.001, 0.001999, 0.002997001
    t1 = [1.0 - 0.1 * 0.3 / (0.3 + 1e-8), -1.0 - 0.1 * -4.0 / (4.0 + 1e-8)]
    t2 = [t1[0] - 0.1 * (0.067 / 0.19) / (np.sqrt(0.00024991 / 0.001999) + 1e-8),
          t1[1] - 0.1 * (-0.16 / 0.19) / (np.sqrt(0.019984 / 0.001999) + 1e-8)]
    t3 = [t2[0] - 0.1 * (-0.0597 / 0.271) / (np.sqrt(0.00168966009 / 0.002997001) + 1e-8),
          t2[1] - 0.1 * (-0.044 / 0.271) / (np.sqrt(0.020964016 / 0.002997001) + 1e-8)]
    thetas, state = run('adam', {'lr': 0.1}, GRADS)
    np.testing.assert_allclose(thetas, [t1, t2, t3], rtol=1e-12)
    np.testing.assert_allclose(state['m'], [-0.0597, -0.044], rtol=1e-12)
    np.testing.assert_allclose(state['v'], [0.00168966009, 0.020964016], rtol=1e-12)
    assert state['t'] == 3


# 6. Adam at β1 = 0 is RMSprop with bias correction ----------------------------------------------

def test_adam_beta1_zero_is_bias_corrected_rmsprop_by_hand():
    """With β1 = 0, m̂_t = g_t; v_t is RMSprop's (β = 0.9) and v̂_t = v_t / (1 − 0.9^t)."""
    # v_1 = [0.009, 1.6], v_2 = [0.0241, 1.84], v_3 = [0.16569, 1.756]; 1 − 0.9^t = 0.1, 0.19, 0.271
    t1 = [1.0 - 0.1 * 0.3 / (np.sqrt(0.009 / 0.1) + 0.01),
          -1.0 - 0.1 * -4.0 / (np.sqrt(1.6 / 0.1) + 0.01)]
    t2 = [t1[0] - 0.1 * 0.4 / (np.sqrt(0.0241 / 0.19) + 0.01),
          t1[1] - 0.1 * 2.0 / (np.sqrt(1.84 / 0.19) + 0.01)]
    t3 = [t2[0] - 0.1 * -1.2 / (np.sqrt(0.16569 / 0.271) + 0.01),
          t2[1] - 0.1 * 1.0 / (np.sqrt(1.756 / 0.271) + 0.01)]
    thetas, state = run('adam', {'lr': 0.1, 'beta1': 0.0, 'beta2': 0.9, 'eps': 0.01}, GRADS)
    np.testing.assert_allclose(thetas, [t1, t2, t3], rtol=1e-12)
    rms_thetas, rms_state = run('rmsprop', {'lr': 0.1, 'beta': 0.9, 'eps': 0.01}, GRADS)
    np.testing.assert_allclose(state['v'], rms_state['v'], rtol=1e-15)
    assert not np.allclose(thetas, rms_thetas)  # the bias correction is what separates them


# 2. Against autograd.misc.optimizers ------------------------------------------------------------

A = np.array([1.0, 10.0, 0.1])
NOISE = np.random.default_rng(0).normal(size=(20, 3))
X0 = np.array([1.0, -2.0, 0.5])


def noisy_quadratic_grad(x, i):
    """∇ of ½ Σ a_j x_j² plus a fixed 'minibatch' perturbation per step i."""
    return A * x + NOISE[i]


def autograd_trajectory(optimizer, **kwargs):
    """x_1 … x_20 from an autograd.misc optimizer (its callback sees x before each update)."""
    xs = []
    final = optimizer(noisy_quadratic_grad, X0, callback=lambda x, i, g: xs.append(x),
                      num_iters=20, **kwargs)
    return np.array(xs[1:] + [final])


def our_trajectory(name, hp, state=None):
    rule = OPTIMIZERS[name]
    hp, theta = rule.resolve(hp), X0
    state = rule.init(theta) if state is None else state
    xs = []
    for i in range(20):
        theta, state = rule.update(theta, noisy_quadratic_grad(theta, i), state, hp)
        xs.append(theta)
    return np.array(xs)


def test_momentum_equals_autograd_sgd_with_mass():
    """autograd's sgd keeps velocity = −v_t (velocity = β·velocity − (1−β)·g; x += λ·velocity)."""
    ours = our_trajectory('momentum', {'lr': 0.1, 'beta': 0.7})
    theirs = autograd_trajectory(ag.sgd, step_size=0.1, mass=0.7)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=0)


def test_rmsprop_equals_autograd_rmsprop_started_at_one():
    """autograd's rmsprop starts avg_sq_grad at 1, not 0; from the state v = 1 the rules coincide.

    By linearity of v_t = βv_{t−1} + (1−β)g_t², starting at 1 adds exactly β^t to v_t, and the
    very first steps differ as worked below.
    """
    hp = {'lr': 0.01, 'beta': 0.8, 'eps': 1e-8}
    ours = our_trajectory('rmsprop', hp, state={'v': np.ones(3)})
    theirs = autograd_trajectory(ag.rmsprop, step_size=0.01, gamma=0.8, eps=1e-8)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=0)

    _, from_zero = run('rmsprop', hp, GRADS)
    _, from_one = run('rmsprop', hp, GRADS, state={'v': np.ones(2)})
    np.testing.assert_allclose(from_one['v'] - from_zero['v'], 0.8**3, rtol=1e-12)

    g1 = noisy_quadratic_grad(X0, 0)
    ours_first = our_trajectory('rmsprop', hp)[0]
    np.testing.assert_allclose(ours_first, X0 - 0.01 * g1 / (np.sqrt(0.2 * g1**2) + 1e-8),
                               rtol=1e-13)
    np.testing.assert_allclose(theirs[0], X0 - 0.01 * g1 / (np.sqrt(0.8 + 0.2 * g1**2) + 1e-8),
                               rtol=1e-13)


def test_adam_equals_autograd_adam():
    """Same rule; autograd's bias correction uses i + 1 with i from 0, which is our t."""
    hp = {'lr': 0.05, 'beta1': 0.8, 'beta2': 0.99, 'eps': 1e-8}
    ours = our_trajectory('adam', hp)
    theirs = autograd_trajectory(ag.adam, step_size=0.05, b1=0.8, b2=0.99, eps=1e-8)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=0)


# 3. The member axis ------------------------------------------------------------------------------

MEMBER_HP = {
    'lr': np.array([[0.1], [0.01], [0.3]]),
    'beta': np.array([[0.9], [0.0], [0.5]]),
    'beta1': np.array([[0.9], [0.0], [0.5]]),
    'beta2': np.array([[0.999], [0.9], [0.5]]),
    'eps': np.array([[1e-8], [0.0], [0.1]]),
}


@pytest.mark.parametrize('name', sorted(OPTIMIZERS))
@pytest.mark.parametrize('placement', ['inside', 'outside'])
def test_members_train_as_if_alone(name, placement):
    rule = OPTIMIZERS[name]
    names = {h.name for h in rule.hyperparameters}
    hp = {k: v for k, v in MEMBER_HP.items() if k in names}
    if 'eps_placement' in names:
        hp['eps_placement'] = placement
    rng = np.random.default_rng(1)
    theta0, grads = rng.normal(size=(3, 4)), rng.normal(size=(5, 3, 4))

    together, state = run(name, hp, grads, theta=theta0)
    step = rule.effective_step(state, rule.resolve(hp))
    for k in range(3):
        hp_k = {n: v if isinstance(v, str) else float(v[k, 0]) for n, v in hp.items()}
        alone, state_k = run(name, hp_k, grads[:, k], theta=theta0[k])
        assert np.array_equal(together[:, k], alone)
        assert np.array_equal(np.broadcast_to(step, (3, 4))[k],
                              np.broadcast_to(rule.effective_step(state_k, rule.resolve(hp_k)), 4))


# 4. eps placement, v_0 = 0, no mutation ----------------------------------------------------------

@pytest.mark.parametrize('name', ['adagrad', 'rmsprop'])
def test_eps_placement(name):
    """One step from v_0 = 0 with g = 3, α = 1, ε = 0.01 (rmsprop at β = 0, so v_1 = 9 for both)."""
    hp = {'lr': 1.0, 'beta': 0.0, 'eps': 0.01} if name == 'rmsprop' else {'lr': 1.0, 'eps': 0.01}
    inside, _ = run(name, {**hp, 'eps_placement': 'inside'}, [np.array([3.0])], theta=np.zeros(1))
    outside, _ = run(name, {**hp, 'eps_placement': 'outside'}, [np.array([3.0])], theta=np.zeros(1))
    np.testing.assert_allclose(inside[0], [-3.0 / np.sqrt(9.01)], rtol=1e-14)
    np.testing.assert_allclose(outside[0], [-3.0 / 3.01], rtol=1e-14)
    assert inside[0, 0] != outside[0, 0]


def test_default_placements_follow_the_lecture():
    assert OPTIMIZERS['adagrad'].resolve({})['eps_placement'] == 'inside'
    assert OPTIMIZERS['rmsprop'].resolve({})['eps_placement'] == 'outside'


@pytest.mark.parametrize('name', sorted(OPTIMIZERS))
@pytest.mark.parametrize('shape', [(4,), (3, 4)])
def test_init_starts_at_zero(name, shape):
    state = OPTIMIZERS[name].init(np.ones(shape))
    for key, value in state.items():
        if key == 't':
            assert value == 0
        else:
            assert value.shape == shape and value.dtype == np.float64 and not value.any()


@pytest.mark.parametrize('name', sorted(OPTIMIZERS))
def test_update_mutates_nothing(name):
    rule = OPTIMIZERS[name]
    hp = rule.resolve({'lr': 0.1})
    theta, g = np.array([[1.0, -2.0]]), np.array([[0.5, 0.25]])
    _, state = rule.update(theta, g, rule.init(theta), hp)  # a state with nonzero entries
    before = copy.deepcopy((theta, g, state, hp))
    new_theta, new_state = rule.update(theta, g, state, hp)
    for old, kept in zip((theta, g, state, hp), before):
        np.testing.assert_equal(old, kept)
    assert new_theta is not theta and new_state is not state
    assert all(new_state[k] is not state[k] for k in state if k != 't')


# 5. Hyperparameter checks ------------------------------------------------------------------------

def hyper(name, hp_name):
    return next(h for h in OPTIMIZERS[name].hyperparameters if h.name == hp_name)


@pytest.mark.parametrize('rule, hp_name, value', [
    ('sgd', 'lr', 0.0), ('sgd', 'lr', -1.0), ('adam', 'lr', 0),
    ('momentum', 'beta', 1.0), ('momentum', 'beta', -0.1), ('adam', 'beta2', 1),
    ('adagrad', 'eps', -1e-9),
    ('sgd', 'lr', True), ('momentum', 'beta', False), ('sgd', 'lr', 'abc'), ('sgd', 'lr', '0.1'),
    ('sgd', 'lr', float('nan')), ('sgd', 'lr', float('inf')), ('adagrad', 'eps', None),
    ('sgd', 'lr', np.array([[0.1], [0.0]])), ('sgd', 'lr', np.array([0.1, 0.2])),
    ('sgd', 'lr', np.array([[True]])),
    ('rmsprop', 'eps_placement', 'middle'), ('rmsprop', 'eps_placement', 1.0),
])
def test_check_rejects(rule, hp_name, value):
    assert isinstance(hyper(rule, hp_name).check(value), str)


@pytest.mark.parametrize('rule, hp_name, value', [
    ('sgd', 'lr', 0.1), ('sgd', 'lr', 3), ('sgd', 'lr', np.float64(1e-3)),
    ('momentum', 'beta', 0), ('momentum', 'beta', 0.0), ('momentum', 'beta', 0.999),
    ('adagrad', 'eps', 0.0), ('adagrad', 'eps', 1e-8),
    ('sgd', 'lr', np.array([[0.1], [0.2], [3.0]])),
    ('rmsprop', 'eps_placement', 'inside'), ('adagrad', 'eps_placement', 'outside'),
])
def test_check_accepts(rule, hp_name, value):
    assert hyper(rule, hp_name).check(value) is None


def test_check_phrases():
    assert hyper('sgd', 'lr').check(0.0) == 'a number > 0'
    assert hyper('momentum', 'beta').check(1.0) == 'a number in [0, 1)'
    assert hyper('adam', 'eps').check(-1.0) == 'a number >= 0'
    assert hyper('rmsprop', 'eps_placement').check('middle') == 'one of inside, outside'


# The registry ------------------------------------------------------------------------------------

def test_registry_and_defaults():
    """Every module of engine/optim/ but base defines one rule, registered under its name; every
    kind experiments.yaml uses is registered; every rule names itself in each language of the
    message catalogues."""
    import pkgutil
    from pathlib import Path

    import engine.optim
    from engine.config.load import load_yaml

    root = Path(engine.optim.__file__).resolve().parent
    modules = {m.name for m in pkgutil.iter_modules([str(root)])} - {'base'}
    assert {rule.update.__module__.rpartition('.')[2] for rule in OPTIMIZERS.values()} == modules
    data, _ = load_yaml(root.parent.parent / 'experiments.yaml')
    assert {o['kind'] for o in data['optimizers'].values()} <= set(OPTIMIZERS)
    languages = {p.stem for p in (root.parent.parent / 'templates' / 'messages').glob('*.yaml')}
    for key, rule in OPTIMIZERS.items():
        assert isinstance(rule, OptimizerRule) and rule.name == key
        assert set(rule.label) == languages and all(rule.label.values())
        assert all(isinstance(h, Hyperparameter) for h in rule.hyperparameters)
        assert [h.name for h in rule.hyperparameters if h.default is None] == ['lr']
        assert rule.resolve({'lr': 0.5})['lr'] == 0.5
        for h in rule.hyperparameters:
            assert h.default is None or h.check(h.default) is None
    assert OPTIMIZERS['adam'].resolve({'lr': 1e-3, 'beta1': 0.5}) == {
        'lr': 1e-3, 'beta1': 0.5, 'beta2': 0.999, 'eps': 1e-8}


def test_formulas_render_as_mathtext():
    matplotlib.use('Agg')
    from matplotlib import mathtext
    for rule in OPTIMIZERS.values():
        mathtext.math_to_image(rule.formula, io.BytesIO(), format='png')
