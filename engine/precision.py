"""FLOAT: the one floating-point type of the neural models' data, parameters, noise, gradients
and optimizer states (float32, the default of PyTorch and JAX).

Why float32: the minibatch steps of the CNNs and the GAN are bound by their matmuls and by memory
traffic, and float32 halves both (a CNN MNIST-1D group of 7 at B = 100 trains ≈ 2.3× faster than
in float64, a ring-GAN group ≈ 1.6×).  Every layer, loss and optimizer rule is written
dtype-generic and keeps the dtype of its inputs, so float64 inputs give float64 results: the
tests check gradients against finite differences in float64, where differences are precise, and
check that training in FLOAT stays in FLOAT.

The analytic objectives (engine/objectives) are not neural models and keep float64: the momentum
claim measures steps until the gap falls to 10⁻⁶ of the start on condition numbers up to 10⁴.
"""
import numpy as np

FLOAT = np.float32
