"""What ``Pile`` and ``Lump`` share: weights over their layers, predict, summary, save.

A model is itself a ``Layer`` (so a model can be used as a layer inside
another model); its weights are the weights of its layers, each layer counted
once even when it is used twice.
"""

from __future__ import annotations

import logging

from cthulhu.engine import fusion, services
from cthulhu.engine.base_layer import Layer, checked_input
from cthulhu.names import serialize_layer


def check_declared_shape(owner, what, declared, got) -> None:
    """Refuse an input whose rank or known sizes differ from a declared shape (``None``: any)."""
    got = tuple(got)
    ok = len(got) == len(declared) and all(
        not isinstance(w, int) or not isinstance(g, int) or w == g
        for w, g in zip(declared, got, strict=True))
    if not ok:
        raise ValueError(f"{owner}: {what} expects shape {tuple(declared)}, got an array of "
                         f"shape {got}")

log = logging.getLogger(__name__)


class Model(Layer):
    """Base class of ``Pile`` and ``Lump``. Subclasses define ``layers`` and ``call_and_mask``."""

    @property
    def layers(self) -> list:
        raise NotImplementedError

    def _weight_layers(self) -> list:
        unique, seen = [], set()
        for layer in self.layers:
            if id(layer) not in seen:
                seen.add(id(layer))
                unique.append(layer)
        return unique

    def get_layer(self, name=None, index=None):
        """The layer called ``name``, or the layer at position ``index`` of ``layers``."""
        if index is not None:
            if not isinstance(index, int) or not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"{self._owner()}: index {index!r} out of range: the model has "
                                 f"{len(self.layers)} layers")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"{self._owner()}: no layer named {name!r}; layers: "
                         f"{[layer.name for layer in self.layers]}")

    # ------------------------------------------------------------ weights
    @property
    def weights(self) -> list:
        return [w for layer in self._weight_layers() for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        return [w for layer in self._weight_layers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return self.weights
        return [w for layer in self._weight_layers() for w in layer.non_trainable_weights]

    def get_weights(self) -> list:
        return [w for layer in self._weight_layers() for w in layer.get_weights()]

    def weight_records(self) -> list:
        """``(owning layer, Weight)`` pairs of every layer, in ``get_weights`` order."""
        return [pair for layer in self._weight_layers() for pair in layer.weight_records()]

    def set_weights(self, weights) -> None:
        """Set all weights from one flat list (the ``get_weights`` order)."""
        weights = list(weights)
        layers = self._weight_layers()
        expected = sum(len(layer.weights) for layer in layers)
        if len(weights) != expected:
            raise ValueError(f"{self._owner()}: set_weights expected {expected} arrays, "
                             f"received {len(weights)}")
        start = 0
        for layer in layers:
            count = len(layer.weights)
            layer.set_weights(weights[start:start + count])
            start += count

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"{self._owner()}: this model has not yet been built; give the first "
                             "layer an input shape or call the model on data first")
        return int(sum(layer.count_params() for layer in self._weight_layers()))

    def apply_constraints(self) -> None:
        for layer in self._weight_layers():
            layer.apply_constraints()

    @property
    def losses(self) -> list:
        return [loss for layer in self._weight_layers() for loss in layer.losses]

    def get_weight(self, name):
        raise KeyError(f"{self._owner()}: models have no weights of their own; use get_layer(...)")

    def weight_as(self, x, name, dtype=None):
        raise KeyError(f"{self._owner()}: models have no weights of their own; use get_layer(...)")

    # ------------------------------------------------------------ running
    def __call__(self, x, training=False, mask=None, **kwargs):
        return super().__call__(x, training=training, mask=mask, **kwargs)

    def predict(self, x, batch_size=None, verbose=0, steps=None):
        """Run the model on ``x`` in batches of ``batch_size`` (default 32) and concatenate.

        ``x`` is an array, or a list of arrays for a model with several inputs.
        The result has ``x``'s library (joined with ``xp.concat``); a model with
        several outputs returns a list.
        """
        import array_api_compat as aac

        if batch_size is None:
            batch_size = 32
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"{self._owner()}: batch_size must be a positive integer, got {batch_size!r}")
        if (isinstance(x, (list, tuple)) and len(x) == 1
                and getattr(self, "_single_input", True)):
            x = x[0]  # Keras 2 takes predict([x]) for a model with one input
        x, shapes = checked_input(x, self)
        many = isinstance(x, list)
        xs = x if many else [x]
        self.check_input_shape(shapes)
        counts = {t.shape[0] for t in xs}
        if len(counts) != 1:
            raise ValueError(f"{self._owner()}: all inputs must have the same number of samples, "
                             f"got shapes {[tuple(t.shape) for t in xs]}")
        n = counts.pop()
        # A runner may run the whole model itself (Dask: fused, block by block); several
        # inputs go to it together when they are of one library.
        runner = services.runner_for(xs[0])
        if runner is not None and many and any(type(t) is not type(xs[0]) for t in xs):
            runner = None
        routed = NotImplemented if runner is None else runner(self, x)
        if routed is not NotImplemented:
            log.debug("%s: predict on %s runs through its whole-model runner",
                      self._owner(), type(xs[0]).__name__)
            return routed
        log.debug("%s: predict on %s samples in batches of %s", self._owner(), n, batch_size)
        if not isinstance(n, int) or n <= batch_size:
            # One batch (or a lazy array of unknown length, e.g. Dask): no slicing, no concat.
            return self(x, training=False)
        parts = []
        for start in range(0, n, batch_size):
            # Out-of-range slice stops are unspecified by the Array API: clamp them.
            stop = min(start + batch_size, n)
            batch = [t[start:stop, ...] for t in xs]
            parts.append(self(batch if many else batch[0], training=False))
        if isinstance(parts[0], (list, tuple)):
            xp = aac.array_namespace(parts[0][0])
            return [xp.concat([p[i] for p in parts], axis=0) for i in range(len(parts[0]))]
        xp = aac.array_namespace(parts[0])
        return xp.concat(parts, axis=0)

    def _inference_plan(self, training):
        """The folds a call applies (:mod:`cthulhu.engine.fusion`): none in training mode or
        under ``fusion.folding(False)``; planned once per structure of the model (its
        layers and whether they are built), node ids of :meth:`graph`."""
        if training or not fusion.is_folding():
            return fusion.NO_PLAN
        key = tuple((id(layer), layer.built) for layer in self.layers)
        cached = self.__dict__.get("_fusion_plan")
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            plan = fusion.plan(self.graph())
        except ValueError:   # a model its graph cannot describe yet: nothing folds
            plan = fusion.NO_PLAN
        self._fusion_plan = (key, plan)
        return plan

    # ------------------------------------------------------------ training (not yet)
    def _no_training(self, method):
        raise NotImplementedError(
            f"{self._owner()}: {method}() is not available: cthulhu runs trained models "
            "(predict, predict_volume) but cannot train them yet. Train in Keras and read the "
            "result with cthulhu.models.load_model(path) or model.load_weights(path).")

    def compile(self, *args, **kwargs):
        """Not available: cthulhu cannot train models yet (raises ``NotImplementedError``)."""
        self._no_training("compile")

    def fit(self, *args, **kwargs):
        """Not available: cthulhu cannot train models yet (raises ``NotImplementedError``)."""
        self._no_training("fit")

    def fit_generator(self, *args, **kwargs):
        """Not available: cthulhu cannot train models yet (raises ``NotImplementedError``)."""
        self._no_training("fit_generator")

    def train_on_batch(self, *args, **kwargs):
        """Not available: cthulhu cannot train models yet (raises ``NotImplementedError``)."""
        self._no_training("train_on_batch")

    def evaluate(self, *args, **kwargs):
        """Not available: needs a compiled loss, and cthulhu cannot train models yet."""
        self._no_training("evaluate")

    def evaluate_generator(self, *args, **kwargs):
        """Not available: needs a compiled loss, and cthulhu cannot train models yet."""
        self._no_training("evaluate_generator")

    def test_on_batch(self, *args, **kwargs):
        """Not available: needs a compiled loss, and cthulhu cannot train models yet."""
        self._no_training("test_on_batch")

    # ------------------------------------------------------------ graph, summary, saving
    def graph(self, expand=False):
        """The model as a graph of layer calls, in topological order (see :mod:`cthulhu.engine.graph`).

        ``expand=True`` replaces each nested model by its own nodes.
        """
        from cthulhu.engine.graph import model_graph

        return model_graph(self, expand=expand)

    def _graph_parts(self):
        """What :func:`cthulhu.engine.graph.model_graph` reads (each model class says)."""
        raise NotImplementedError

    #: The summary table's headers and Keras's default width and column stops.
    summary_columns = (("Layer (type)", "Output Shape", "Param #"), 65, (0.45, 0.85, 1.0))

    def summary_rows(self) -> list:
        """The rows of :meth:`summary`, one list of fields per line (each model class says)."""
        raise NotImplementedError

    def summary(self, line_length=None, positions=None, print_fn=None):
        """Print a table of the layers: name (type), output shape, parameter count, and totals."""
        from cthulhu.engine.summary import print_summary

        print_summary(self, line_length=line_length, positions=positions,
                      print_fn=print if print_fn is None else print_fn)

    def save(self, filepath, overwrite=True, save_format=None, certificate=True):
        """Save config and weights to one file at exactly ``filepath``.

        The file's name chooses the format: ``.keras`` (Keras 3's zip), ``.h5``/``.hdf5``
        (Keras 2's legacy HDF5), any other name cthulhu's own file; ``save_format``
        (``'keras'``, ``'h5'``, ``'cthulhu'``) overrides it. ``certificate`` (default
        True) stores a test vector that ``load_model(..., verify=True)`` re-runs; False
        stores none; an array (or list of arrays) is used as its input. See
        ``docs/models.md`` and ``docs/keras.md``.

        The engine does not own model files: this is ``cthulhu.saving.save_model``,
        found through :mod:`cthulhu.engine.services`.
        """
        services.service("save_model")(self, filepath, overwrite=overwrite,
                                       save_format=save_format, certificate=certificate)

    def load_weights(self, filepath, by_name=False, skip_mismatch=False, **kwargs):
        """Set the weights from a file: a Keras weights file (``.h5`` of Keras 1 and 2,
        Keras 3's ``.weights.h5`` and sharded ``.weights.json``), a Keras or cthulhu model
        file. ``by_name=False`` matches layers by topological order, as Keras 2 did;
        ``by_name=True`` by name. ``skip_mismatch`` skips layers whose weights do not fit
        (with a warning). Keyword arguments: ``original_backend='theano'`` (Keras 1 files
        trained with Theano), ``isolate``. See ``docs/keras.md``.

        This is ``cthulhu.saving.load_weights``, found through :mod:`cthulhu.engine.services`.
        """
        return services.service("load_weights")(self, filepath, by_name=by_name,
                                                skip_mismatch=skip_mismatch, **kwargs)

    def to_json(self, **kwargs) -> str:
        import json

        return json.dumps(serialize_layer(self), **kwargs)
