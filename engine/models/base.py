"""What every model hands to the training loop, and how the registry builds one.

Conventions shared by all models:

* Data, parameters and noise in FLOAT (float32, engine/precision.py).  Every layer and loss keeps
  its inputs' dtype, so float64 inputs (the gradient tests') give float64 results.
* ``params`` is a dict name -> array whose leading axis is the member axis K: K independent copies
  of the model train together; member k never reads another member's numbers.
* A ``batch`` is a dict of arrays with leading axes (K, B): ``{'x': (K, B, ...), 'y': (K, B)}``,
  plus, for models that draw noise, the entries named in ``Model.latents``.
* ``loss(params, batch)`` is differentiable and returns the per-member mean loss, shape (K,).
  Members are independent, so ``grad(lambda p: np.sum(loss(p, batch)))`` is every member's own
  gradient at once.  A model whose loss is written with ops only (engine/models/ops.py) says so
  with ``tape``: training then takes that same gradient on a tape (engine/models/tape.py)
  instead of autograd's trace.
"""
from dataclasses import dataclass, field
from typing import Callable, Mapping

from engine.registry import keyword_defaults


@dataclass(frozen=True)
class Player:
    """One side of a game: the parameters whose names start with ``prefix`` descend on ``loss``."""

    name: str
    prefix: str
    loss: Callable


@dataclass(frozen=True)
class Model:
    kind: str  # registry key
    init: Callable  # rngs, one per member -> params with K axis
    loss: Callable  # (params, batch) -> (K,), differentiable
    metrics: Callable  # (params, batch) -> {name: (K,)}, plain evaluation
    layers: list  # layer table rows {name, output_shape, n_params}
    n_params: int  # per member
    # Whether ``loss`` (and every player's) is written with ops only, so that training may take
    # its gradient on a tape (engine/models/tape.py) rather than by autograd's trace.
    tape: bool = False
    # Batch entries the loop must fill with i.i.d. N(0, 1) draws of shape (K, B, *shape), for
    # training and evaluation batches alike: the noise enters as data so ``loss`` stays pure.
    latents: Mapping[str, tuple] = field(default_factory=dict)
    # Empty: every parameter descends on ``loss``. Otherwise a game: alternate one step per player
    # in this order, each player moving only its own parameters on its own loss.
    players: tuple = ()
    # Named functions for the report, e.g. 'logits', 'encode', 'decode', 'generate'.
    extras: Mapping[str, Callable] = field(default_factory=dict)
    # What a figure needs that metrics cannot hold (learned kernels, reconstructions, samples):
    # ``artifacts(params, data, rngs) -> {name: array (K, ...)}``, small arrays, stored with the run.
    # ``rngs`` are fresh per call and the same at every call, so noise-driven artifacts (samples)
    # change only because the parameters do.  Called once, after training.
    artifacts: Callable | None = None
    # The same contract, called at a few evaluation points along training (samples over training).
    snapshot: Callable | None = None


@dataclass(frozen=True)
class ModelFactory:
    """A registry entry: ``build(dataset_info, **params)`` with the keyword defaults of ``make``.

    ``dataset_info`` is a data set's ``info`` dict; models read 'kind', 'shape' (one example, without
    the batch axis), 'n_classes' and, where relevant, 'x_range' and the ring's 'centres' and 'std'.
    """

    name: str
    make: Callable
    accepts: frozenset  # data set kinds: 'image', 'signal', 'sequence', 'points', 'memory'
    description: str

    @property
    def params(self) -> dict:
        """Accepted parameters and their defaults."""
        return keyword_defaults(self.make)

    def build(self, dataset_info, **params) -> Model:
        kind = dataset_info["kind"]
        if kind not in self.accepts:
            raise ValueError(f"model {self.name!r} accepts {sorted(self.accepts)}, not {kind!r} data")
        unknown = set(params) - set(self.params)
        if unknown:
            raise TypeError(f"model {self.name!r} has no parameter(s) {sorted(unknown)}; it takes {self.params}")
        return self.make(dataset_info, **params)


def in_unit_interval(info):
    """Whether the data set declares all its x values in [0, 1] (pixels as probabilities)."""
    bounds = info.get("x_range")
    return bounds is not None and 0.0 <= bounds[0] and bounds[1] <= 1.0
