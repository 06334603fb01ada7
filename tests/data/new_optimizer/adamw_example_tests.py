"""AdamW against its formula, worked by hand, and against Adam when it does not decay."""
import numpy as np

from engine.optim import OPTIMIZERS

THETA0 = np.array([1.0, -1.0])
G1 = np.array([0.3, -4.0])


def test_adamw_first_step_by_hand():
    # t = 1: m̂ = g, v̂ = g², so with ε = 0 the step is α (sign(g) + λ θ_0); α = 0.1, λ = 0.5
    rule = OPTIMIZERS['adamw_example']
    hp = rule.resolve({'lr': 0.1, 'eps': 0.0, 'weight_decay': 0.5})
    theta, _ = rule.update(THETA0, G1, rule.init(THETA0), hp)
    np.testing.assert_allclose(theta, [1.0 - 0.1 * (1 + 0.5), -1.0 - 0.1 * (-1 - 0.5)], rtol=1e-12)


def test_adamw_without_decay_is_adam_bit_for_bit():
    adamw, adam = OPTIMIZERS['adamw_example'], OPTIMIZERS['adam']
    a, b = THETA0, THETA0
    sa, sb = adamw.init(a), adam.init(b)
    for g in (G1, np.array([0.4, 2.0]), np.array([-1.2, 1.0])):
        a, sa = adamw.update(a, g, sa, adamw.resolve({'lr': 0.01, 'weight_decay': 0.0}))
        b, sb = adam.update(b, g, sb, adam.resolve({'lr': 0.01}))
    assert np.array_equal(a, b)
