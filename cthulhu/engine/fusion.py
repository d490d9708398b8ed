"""Folding at inference: a batch normalisation (and an activation) into the op before it.

At inference a batch normalisation over the channels is the per-channel map
``y * scale + shift`` (``scale = gamma / sqrt(moving_variance + epsilon)``,
``shift = beta - moving_mean * scale``), and an op's epilogue applies exactly that
after its bias (:class:`cthulhu.devices.Epilogue`): so in a chain

    producer -> BatchNormalization -> activation

where the producer is a convolution (any of the family) or a ``Daoloth`` with a linear
activation, the model can run the producer once with ``scale``, ``shift`` and the
activation in its op's epilogue, and skip the two layers after it. A device plugin that
fuses the parts applies them while the tile is in registers (the NumPy engine, the CUDA
kernels); otherwise the op applies them after, as one pass.

The decision is the model's, not the layers': :func:`plan` reads the model's graph
(``model.graph()``, :mod:`cthulhu.engine.graph`) and folds a pair only when

* the producer's output goes to exactly one node, the batch normalisation, and to no
  model output (a skip connection reading the convolution keeps the pair apart);
* the batch normalisation is over one axis, the producer's channel axis
  (``Layer.affine_axis`` equals ``Layer.epilogue_axis``);
* nothing is recorded with ``training=True``; the model folds only at inference
  (:meth:`Model.call_and_mask` with ``training=False``);
* no layer of the chain has an activity regularizer (the penalty reads the unfolded
  output).

An activation layer (``ReLU``, ``LeakyReLU``, ``Azatoth('relu')``, ...: those whose
``Layer.epilogue_activation`` names a piecewise-linear epilogue activation) is folded
too when it alone reads the batch normalisation (or, with no batch normalisation, the
producer). The layers only say what they are (the hooks of
:class:`~cthulhu.engine.base_layer.Layer`); they never look at their neighbours.

An element-wise layer with no channel axis of its own (``Add``:
``Layer.takes_activation_epilogue``) takes such an activation alone, under the same
conditions (it alone reads the sum, which is no model output): a residual block's
``ReLU(Add([y, shortcut]))`` is one call, with the same arithmetic as the two layers.
The blockwise runner does not apply these folds (a merge is no producer there).

Folding changes the rounding: the batch normalisation's multiply-add runs in the op's
epilogue (on the unrounded product on some devices) instead of on the rounded output.
Per element ``|folded - unfolded| <= 4 u (|z * scale| + |shift|)``, ``z`` the
producer's unfolded output and ``u`` the unit roundoff of the input's dtype (``2**-24``
for float32); the tests check this bound. Half-precision inputs are never folded (see
:func:`epilogue`). ``with folding(False):`` turns folding off in a block of code (this
thread).

Whole-model runners (the blockwise floor, ``cthulhu.blockwise.GraphProgram``) use the
same plan: :func:`plan` on the model's expanded graph (``model.graph(expand=True)``),
then :func:`epilogue` for the arrays of a block.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

from cthulhu.devices.base import Epilogue
from cthulhu.engine.utils import is_half_dtype

__all__ = ["Fold", "FusionPlan", "NO_PLAN", "plan", "epilogue", "epilogue_at",
           "folding", "is_folding"]

_FOLDING: contextvars.ContextVar = contextvars.ContextVar("cthulhu_folding", default=True)


@contextlib.contextmanager
def folding(enabled: bool):
    """Turn inference folding on or off for this block of code (this thread/context)."""
    token = _FOLDING.set(bool(enabled))
    try:
        yield
    finally:
        _FOLDING.reset(token)


def is_folding() -> bool:
    """Whether models fold at inference here (see :func:`folding`)."""
    return _FOLDING.get()


@dataclass(frozen=True)
class Fold:
    """One chain folded into its producer's op.

    Attributes
    ----------
    producer : int
        The graph node id of the layer that runs, with the epilogue.
    norm, activation : int or None
        The node ids of the batch normalisation and the activation it absorbs (at least
        one of them is set).
    axis : int
        The channel axis of the producer's output.
    norm_layer, activation_layer : Layer or None
        Their layers (what :func:`epilogue` reads).
    """

    producer: int
    norm: int | None
    activation: int | None
    axis: int
    norm_layer: object = None
    activation_layer: object = None

    @property
    def last(self) -> int:
        """The node whose output the producer's folded output stands for."""
        return self.activation if self.activation is not None else self.norm

    @property
    def absorbed(self) -> tuple:
        """The node ids that no longer run."""
        return tuple(n for n in (self.norm, self.activation) if n is not None)

    def epilogue(self, x) -> Epilogue | None:
        """:func:`epilogue` of this fold (what a runner below the engine calls)."""
        return epilogue(self, x)


@dataclass(frozen=True)
class FusionPlan:
    """The folds of one model graph, by producer node id."""

    folds: tuple = ()

    def __bool__(self) -> bool:
        return bool(self.folds)

    def __post_init__(self):
        object.__setattr__(self, "_by_producer", {f.producer: f for f in self.folds})
        object.__setattr__(self, "_absorbed",
                           frozenset(n for f in self.folds for n in f.absorbed))

    def fold_at(self, node_id) -> Fold | None:
        """The fold whose producer is node ``node_id``, or ``None``."""
        return self._by_producer.get(node_id)

    def is_absorbed(self, node_id) -> bool:
        """Whether node ``node_id`` runs inside a producer's op (so not by itself)."""
        return node_id in self._absorbed


NO_PLAN = FusionPlan()


def _only_reader(graph, node):
    """The one node reading ``node``'s output as its single input, or ``None`` (several
    readers, a model output, a list input, a training call)."""
    if node.id in graph.outputs or node.multiple_outputs:
        return None
    readers = graph.consumers(node.id)
    if len(readers) != 1:
        return None
    reader = graph[readers[0]]
    if reader.inputs != (node.id,) or reader.input_is_list or reader.training:
        return None
    if getattr(reader.layer, "activity_regularizer", None) is not None:
        return None
    return reader


def _hook(layer, name, *args):
    """A layer's folding hook (``Layer`` defines them; an object without one folds nothing)."""
    method = getattr(layer, name, None)
    return None if method is None else method(*args)


def _activation_after(graph, node):
    reader = _only_reader(graph, node)
    if reader is None or _hook(reader.layer, "epilogue_activation") is None:
        return None
    return reader


def plan(graph) -> FusionPlan:
    """The folds of a :class:`~cthulhu.engine.graph.ModelGraph` (see the module docstring).

    Pure bookkeeping on the graph: no array is touched. Node ids are the graph's.
    """
    folds = []
    taken = set()
    for node in graph.nodes:
        layer = node.layer
        if (node.is_input or node.training or node.multiple_outputs or node.id in taken
                or getattr(layer, "activity_regularizer", None) is not None):
            continue
        axis = _hook(layer, "epilogue_axis", len(node.output_shape))
        if axis is None:
            if _hook(layer, "takes_activation_epilogue"):
                fold = _activation_fold(graph, node)
                if fold is not None:
                    taken.update((node.id, *fold.absorbed))
                    folds.append(fold)
            continue
        reader = _only_reader(graph, node)
        if reader is None:
            continue
        norm = act = None
        if _hook(reader.layer, "affine_axis", len(reader.output_shape)) == axis:
            norm = reader
            act = _activation_after(graph, norm)
        elif _hook(reader.layer, "epilogue_activation") is not None:
            act = reader
        else:
            continue
        fold = Fold(node.id, None if norm is None else norm.id, None if act is None else act.id,
                    axis, None if norm is None else norm.layer, None if act is None else act.layer)
        taken.update((node.id, *fold.absorbed))
        folds.append(fold)
    return FusionPlan(tuple(folds))


def _activation_fold(graph, node):
    """The fold of the activation alone reading an element-wise ``node`` (``Add``), or
    ``None``. Its ``axis`` is the last one: an activation has no channel."""
    act = _activation_after(graph, node)
    if act is None:
        return None
    return Fold(node.id, None, act.id, len(node.output_shape) - 1, None, act.layer)


def epilogue(fold: Fold, x) -> Epilogue | None:
    """The epilogue of ``fold`` for the producer's input ``x``: the batch normalisation's
    ``scale`` and ``shift`` (arrays of ``x``'s library and device) and the activation.

    ``None`` (run the chain unfolded) for a float16 ``x``: the op's epilogue runs in the
    input's dtype, and a batch normalisation of a tiny variance has a ``scale`` (or an
    intermediate ``z * scale``) beyond float16's range, which Keras computes in float32.
    """
    if _is_half(x):
        return None
    scale = shift = None
    if fold.norm_layer is not None:
        scale, shift = fold.norm_layer.affine(x)
    name, alpha = (None, 0.0)
    if fold.activation_layer is not None:
        name, alpha = fold.activation_layer.epilogue_activation()
    return Epilogue(scale=scale, shift=shift, activation=name, alpha=alpha)


def epilogue_at(plan: FusionPlan, node_id, x, skipped: set) -> Epilogue | None:
    """What a model's call loop passes to node ``node_id`` (its input ``x``): the epilogue
    of the fold it produces, adding the node ids that fold absorbs to ``skipped``; ``None``
    when it produces none or the fold is declined (:func:`epilogue`)."""
    fold = plan.fold_at(node_id) if plan else None
    if fold is None:
        return None
    extra = epilogue(fold, x)
    if extra is not None:
        skipped.update(fold.absorbed)
    return extra


def _is_half(x) -> bool:
    # float16 and bfloat16 (not Array API dtypes: namespaces need not name them); a
    # merge's input is a list of arrays of one dtype
    if isinstance(x, (list, tuple)):
        x = x[0] if x else None
    return is_half_dtype(getattr(x, "dtype", ""))
