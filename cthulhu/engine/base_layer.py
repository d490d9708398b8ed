"""The ``Layer`` base class every cthulhu layer and model derives from.

A subclass writes ``__init__`` (calling ``super().__init__(**kwargs)``),
``build(input_shape)`` (creating weights with :meth:`Layer.add_weight`),
``compute_output_shape(input_shape)`` (one ``cthulhu.shapes`` call) and
``call(x, training=False, mask=None)`` (``xp``-generic math). The base class
handles names, Keras 2 keywords, weight storage (:class:`~cthulhu.engine.weights.Weight`:
a home array, NumPy in the Keras layout by default, in creation order), conversion of
the weights to the input's library (:meth:`Layer.weight_as`), masks, regularisation losses, constraints,
configs, and symbolic calls on tensors made by ``Input``.
"""

from __future__ import annotations

import contextvars
import functools
import math
import operator
import warnings

import numpy as np

from cthulhu.engine.node import Node, SymbolicTensor, is_symbolic
from cthulhu.engine.utils import (  # noqa: F401 - re-exported for layer authors
    _batchless,
    _call_accepts,
    _has_mask,
    _is_floating,
    _is_multi_shape,
    check_shape,
    checked_input,
    note_name,
    reset_names,
    to_numpy,
    to_snake_case,
    unique_name,
)
from cthulhu.engine.weights import Weight
from cthulhu.names import keras1

_VERSION = operator.attrgetter("version")   # of a Weight (Layer.planned)


def _is_pad_pairs(pads) -> bool:
    """Whether ``pads`` is a sequence of ``(lo, hi)`` int pairs (``call_with_pads``)."""
    if isinstance(pads, (str, bytes)) or not isinstance(pads, (list, tuple)):
        return False
    import operator

    def integer(v):
        try:
            operator.index(v)
        except TypeError:
            return False
        return not isinstance(v, bool)

    return all(isinstance(pair, (list, tuple)) and len(pair) == 2 and all(map(integer, pair))
               for pair in pads)


# While ``load_model`` builds a model, every weight is about to be overwritten by the
# file's arrays: this holds a function ``(owner, name, shape, dtype) -> array`` that
# allocates it (zeros, within the bytes the file can hold) instead of running initializers,
# so a small file naming huge layers is refused before anything big is allocated.
WEIGHT_ALLOCATOR: contextvars.ContextVar = contextvars.ContextVar("cthulhu_weight_allocator",
                                                                  default=None)


class Layer:
    """Base class of all layers (and of the models ``Pile`` and ``Lump``).

    Parameters
    ----------
    input_shape : tuple, optional
        Shape of one sample (no batch axis); only meaningful for a model's first layer.
    input_dim : int, optional
        Shorthand for ``input_shape=(input_dim,)``.
    batch_size : int, optional
        Fixed batch size to prepend to ``input_shape``.
    batch_input_shape : tuple, optional
        Full input shape including the batch axis.
    name : str, optional
        Unique name; generated from the class name (``cthalpa2d_1``) when omitted.
    dtype : str, optional
        Dtype of the stored weights (default ``'float32'``). Calls still return
        the input's floating dtype.
    trainable : bool
        Whether the weights count as trainable.
    weights : list of arrays, optional
        Initial weights, set right after the layer is built.
    activity_regularizer : optional
        Regularizer applied to the layer's output; its penalty appears in ``losses``.

    Notes
    -----
    Subclass hooks: ``expected_rank`` (int, tuple of ints or None), ``min_rank``,
    ``expected_channels`` (``{axis: size}``, usually set in ``build``) and
    ``requires_float_input``: the base class checks inputs against them and
    raises ``ValueError``/``TypeError`` naming the layer and the value.
    """

    supports_masking = False
    expected_rank: int | tuple | None = None
    min_rank: int | None = None
    requires_float_input = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A subclass's build() marks the layer built even if it forgets self.built = True,
        # so that calling build() by hand and then the layer never creates the weights twice.
        original = cls.__dict__.get("build")
        if original is not None and not getattr(original, "_cthulhu_wrapped", False):
            @functools.wraps(original)
            def build(self, *args, **kw):
                result = original(self, *args, **kw)
                self.built = True
                if args and args[0] is not None and self._build_input_shape is None:
                    self._build_input_shape = args[0]
                return result

            build._cthulhu_wrapped = True
            cls.build = build
        # Keras 1's argument words (``nb_filter``, ``border_mode``, ``init``, ...) are
        # accepted by every layer with a DeprecationWarning naming the modern word, as
        # Keras 2 did: one table (cthulhu.names.keras1), applied here to every class.
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_cthulhu_wrapped", False):
            @functools.wraps(init)
            def __init__(self, *args, **kwargs):
                if (not keras1.KERAS1_WORDS.isdisjoint(kwargs)
                        or (len(args) >= 3 and type(self).__init__ is __init__)):
                    args, kwargs, notes = keras1.modernize_arguments(type(self), args, kwargs)
                    for note in notes:
                        warnings.warn(note, DeprecationWarning, stacklevel=2)
                init(self, *args, **kwargs)

            __init__._cthulhu_wrapped = True
            cls.__init__ = __init__

    def __init__(self, *, input_shape=None, input_dim=None, batch_size=None,
                 batch_input_shape=None, name=None, dtype=None, trainable=True,
                 weights=None, activity_regularizer=None, **kwargs):
        cls = type(self).__name__
        if kwargs:
            bad = ", ".join(repr(k) for k in sorted(kwargs))
            raise TypeError(f"{cls}: unexpected keyword argument(s) {bad}")
        if name is None:
            name = unique_name(to_snake_case(cls))
        elif not isinstance(name, str) or not name:
            raise ValueError(f"{cls}: name must be a non-empty string, got {name!r}")
        else:
            note_name(name)
        self.name = name
        try:
            self.dtype = str(np.dtype(dtype or "float32"))
        except TypeError:
            raise ValueError(f"{cls} {name!r}: dtype must be a dtype name such as 'float32', "
                             f"got {dtype!r}") from None
        self.trainable = bool(trainable)
        self.built = False
        self.expected_channels: dict | None = None
        self._weights: list[Weight] = []
        self._weight_by_name: dict[str, Weight] = {}
        self._call_losses: list = []
        self._inbound_nodes: list[Node] = []
        self._build_input_shape = None
        self._initial_weights = None if weights is None else list(weights)
        self.batch_input_shape = self._batch_shape_from(input_shape, input_dim, batch_size,
                                                        batch_input_shape)
        if activity_regularizer is not None:
            from cthulhu import regularizers
            activity_regularizer = regularizers.get(activity_regularizer)
        self.activity_regularizer = activity_regularizer

    def _batch_shape_from(self, input_shape, input_dim, batch_size, batch_input_shape):
        owner = self._owner()
        if batch_input_shape is not None:
            return check_shape(batch_input_shape, owner, "batch_input_shape")
        if input_shape is None and input_dim is not None:
            input_shape = (input_dim,)
        if input_shape is None:
            return None
        if batch_size is not None and not (isinstance(batch_size, int) and batch_size > 0):
            raise ValueError(f"{owner}: batch_size must be a positive integer, got {batch_size!r}")
        return (batch_size,) + check_shape(input_shape, owner, "input_shape")

    def _owner(self) -> str:
        return f"{type(self).__name__} {getattr(self, 'name', '?')!r}"

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"

    # ----------------------------------------------------------- subclass API
    def build(self, input_shape):
        """Create the weights for ``input_shape`` (batch axis included). Subclasses override."""
        self.built = True

    def call(self, x, training=False, mask=None):
        """The layer's computation on an Array API array. Subclasses override."""
        return x

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (identity here; subclasses call ``cthulhu.shapes``)."""
        return input_shape

    def compute_mask(self, x, mask=None):
        """The mask of the output: passed through by layers that support masking."""
        if not _has_mask(mask):
            return None
        if not self.supports_masking:
            raise TypeError(f"Layer {self.name} ({type(self).__name__}) does not support masking, "
                            f"but was passed an input_mask: {mask!r}")
        return mask

    def shape_spec(self):
        """Plain dict describing this layer for ``cthulhu.shapes.chain`` (None: not a spatial layer)."""
        return None

    # ------------------------------------------------- folding at inference
    # What cthulhu.engine.fusion reads to fold a batch normalisation (and an activation)
    # into the op of the layer before it (docs/models.md). The defaults fold nothing.
    def epilogue_axis(self, ndim):
        """The axis of this layer's output (of rank ``ndim``, as a non-negative index)
        along which its op can apply a per-channel ``scale`` and ``shift`` and an
        activation after its own bias; ``None`` (the default) when it cannot, e.g. when
        its own activation is not linear."""
        return None

    def call_with_epilogue(self, x, epilogue):
        """:meth:`call` at inference with ``epilogue`` (``scale``, ``shift``, ``activation``,
        ``alpha`` of a :class:`cthulhu.devices.Epilogue`) applied after the layer's own
        bias, by its op. Layers whose :meth:`epilogue_axis` is not ``None`` provide it."""
        raise NotImplementedError(f"{self._owner()} takes no epilogue")

    def takes_activation_epilogue(self):
        """Whether :meth:`call_with_epilogue` takes an epilogue of an activation alone (no
        ``scale`` or ``shift``): an element-wise layer with no channel axis of its own,
        such as ``Add``, whose sum the activation after it may finish in the same call.
        ``False`` (the default) otherwise."""
        return False

    def affine_axis(self, ndim):
        """The axis (non-negative, for an input of rank ``ndim``) along which this layer is,
        at inference, the per-channel map ``x * scale + shift`` (a batch normalisation
        over one axis); ``None`` (the default) otherwise."""
        return None

    def affine(self, x):
        """``(scale, shift)``, 1-D arrays of ``x``'s library and device, of the map of
        :meth:`affine_axis` (layers whose :meth:`affine_axis` is not ``None``)."""
        raise NotImplementedError(f"{self._owner()} is not an affine map")

    def epilogue_activation(self):
        """``(name, alpha)`` when this layer, at inference, is the op epilogue's activation
        ``name`` (one of ``cthulhu.devices.base.ACTIVATIONS``; ``alpha`` for
        ``leaky_relu``); ``None`` (the default) otherwise."""
        return None

    #: Whether :meth:`call_with_pads` runs this layer (the sliding-window layers say so).
    explicit_pads = False

    def call_with_pads(self, x, pads, epilogue=None):
        """The layer on ``x`` with explicit padding ``pads`` in place of its own ``padding``.

        What a runner that cuts a volume into blocks calls (``cthulhu.blockwise``): the
        block plans of :mod:`cthulhu.shapes` give, per block, the padding that makes the
        block's result equal the whole array's (the layer's own zeros only where the
        block touches the array's true border).

        Parameters
        ----------
        x : array
            The block, batch and channel axes included, in the layer's ``data_format``.
        pads : "valid" or sequence of (int, int)
            One ``(lo, hi)`` pair per spatial axis, in the meaning of the layer's op
            (``docs/internals.md``): the zeros added around ``x`` for a direct
            convolution; for a transposed convolution the padding of the equivalent
            direct convolution of the zero-inserted ``x`` (negative amounts crop); for
            pooling the border left out of the windows. ``"valid"``: no padding (a
            transposed convolution then drops its ``output_padding``).
        epilogue : cthulhu.devices.Epilogue, optional
            A folded batch normalisation and activation (:mod:`cthulhu.engine.fusion`),
            applied by the op after the layer's own bias as in :meth:`call_with_epilogue`
            (only layers whose :meth:`epilogue_axis` is not ``None`` take one).

        Returns
        -------
        array
            What ``layer(x)`` returns, the activation included, for that padding.

        Raises
        ------
        NotImplementedError
            For layers without a sliding window (:attr:`explicit_pads` is ``False``).
        TypeError
            For an ``epilogue`` given to a layer that takes none.
        """
        owner = self._owner()
        if not self.explicit_pads:
            raise NotImplementedError(f"{owner}: has no explicit-padding call (only layers "
                                      "with a sliding window do: explicit_pads is False)")
        if not (pads == "valid" or _is_pad_pairs(pads)):
            raise TypeError(f"{owner}: call_with_pads takes 'valid' or one (lo, hi) pair of "
                            f"ints per spatial axis, got {pads!r}")
        x, shape = checked_input(x, owner)
        self._maybe_build(shape)
        if self.requires_float_input:
            self._check_float(x)
        pads = pads if pads == "valid" else tuple(map(tuple, pads))
        if epilogue is None:
            return self._call_padded(x, pads)
        if self.epilogue_axis(len(shape)) is None:
            raise TypeError(f"{owner}: call_with_pads takes no epilogue here (epilogue_axis "
                            f"is None), got {epilogue!r}")
        return self._call_padded(x, pads, epilogue=epilogue)

    def _call_padded(self, x, pads, epilogue=None):
        """:meth:`call_with_pads` on a checked input (the layers with ``explicit_pads``;
        ``epilogue`` only for those with an :meth:`epilogue_axis`)."""
        raise NotImplementedError

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = tuple(self.batch_input_shape)
        if self.activity_regularizer is not None and type(self).__init__ is Layer.__init__:
            from cthulhu import regularizers
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # ---------------------------------------------------------------- weights
    def add_weight(self, name, shape, initializer="glorot_uniform", regularizer=None,
                   constraint=None, trainable=True, dtype=None):
        """Create a weight (a NumPy array in Keras layout) and return it.

        ``initializer``, ``regularizer`` and ``constraint`` accept names, config
        dicts, instances or callables (see ``cthulhu.initializers.get`` etc.).
        Weights are kept in creation order, which is the ``get_weights`` order.
        """
        from cthulhu import constraints, initializers, regularizers

        owner = self._owner()
        shape = check_shape(shape, owner, f"shape of weight {name!r}")
        if any(not isinstance(d, int) for d in shape):
            raise ValueError(f"{owner}: weight {name!r} needs a fully known shape, got {shape}; "
                             "the input's channel/feature axis must be known to build the layer")
        if any(w.name == name for w in self._weights):
            raise ValueError(f"{owner}: a weight named {name!r} already exists")
        dtype = np.dtype(dtype or self.dtype)
        init = initializers.get(initializer)
        allocate = WEIGHT_ALLOCATOR.get()
        if allocate is not None:
            value = allocate(owner, name, shape, dtype)
        else:
            try:
                value = np.array(np.asarray(init(shape, dtype=dtype), dtype=dtype), copy=True)
            except MemoryError as exc:
                size = math.prod(shape) * dtype.itemsize
                raise ValueError(f"{owner}: weight {name!r} of shape {shape} needs {size} "
                                 "bytes, more than this machine can allocate") from exc
            except (ValueError, TypeError) as exc:
                # e.g. the identity initializer on a 4D kernel: say which layer and weight
                raise type(exc)(f"{owner}: initializer of weight {name!r}: {exc}") from exc
        if value.shape != shape:
            raise ValueError(f"{owner}: initializer for weight {name!r} returned shape "
                             f"{value.shape}, expected {shape}")
        weight = Weight(name, value, bool(trainable),
                        regularizers.get(regularizer), constraints.get(constraint))
        self._weights.append(weight)
        self._weight_by_name[name] = weight
        return weight.value

    def weight_records(self) -> list:
        """``(owning layer, Weight)`` pairs in ``get_weights`` order (a model: its layers')."""
        return [(self, weight) for weight in self._weights]

    def _weight_record(self, name) -> Weight:
        for w in self._weights:
            if w.name == name:
                return w
        known = [w.name for w in self._weights]
        raise KeyError(f"{self._owner()} has no weight {name!r} (has {known})")

    def get_weight(self, name):
        """The home array of the weight called ``name`` (NumPy unless set from another library)."""
        return self._weight_record(name).value

    def weight_as(self, x, name, dtype=None):
        """The weight ``name`` as an array of ``x``'s library, on ``x``'s device.

        The dtype is ``dtype`` if given, else ``x``'s dtype when it is floating,
        else the layer's dtype. Conversions are cached per (library, device,
        dtype) and forgotten when the weights change.
        """
        weight = self._weight_by_name.get(name) or self._weight_record(name)  # raises, naming it
        return weight.like(x, dtype, self.dtype)

    def derived(self, key, make):
        """``make()``, a value computed from this layer's weights, cached under ``key``
        until any weight changes (``set_weights``, ``Weight.assign``/``changed``).

        For what a layer precomputes from its weights per library, device and dtype
        (a batch normalisation's folded scale and shift): put those in ``key``.
        """
        versions = tuple(w.version for w in self._weights)
        cache = self.__dict__.setdefault("_derived", {})
        hit = cache.get(key)
        if hit is not None and hit[0] == versions:
            return hit[1]
        value = make()
        cache[key] = (versions, value)
        return value

    def planned(self, x, key, make, *args):
        """``make(*args)``, an op's plan for ``x``'s kind (``ops.CONV.plan``,
        ``ops.MATMUL.plan``), kept with ``x``'s type, shape, dtype and device, ``key``
        and this layer's weights (the records and their versions): the next call with
        all of them unchanged gets the same plan back for one comparison instead of
        the op's argument checks (a few microseconds of Python, a tenth of a small
        layer's time). Only the last plan is kept.
        """
        records = self._weights
        stamp = (type(x), x.shape, x.dtype, getattr(x, "device", None), key, *records,
                 *map(_VERSION, records))
        last = self.__dict__.get("_last_plan")
        if last is not None and last[0] == stamp:
            return last[1]
        plan = make(*args)
        self._last_plan = (stamp, plan)
        return plan

    @property
    def weights(self) -> list:
        return [w.value for w in self._weights]

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        return [w.value for w in self._weights if w.trainable]

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return self.weights
        return [w.value for w in self._weights if not w.trainable]

    def get_weights(self) -> list:
        """Copies of the weights as NumPy arrays, in creation order."""
        return [np.array(w.numpy(), copy=True) for w in self._weights]

    def set_weights(self, weights) -> None:
        """Replace the weights; shapes must match exactly (ValueError naming the weight otherwise).

        Any Array API array is accepted and becomes the weight's home, in its own
        library and on its own device, cast to the weight's dtype (a Dask array is
        computed into NumPy); other sequences become NumPy arrays.
        """
        weights = list(weights)
        owner = self._owner()
        if len(weights) != len(self._weights):
            names = [w.name for w in self._weights]
            raise ValueError(f"{owner}: set_weights expected {len(self._weights)} arrays "
                             f"{names}, received {len(weights)}")
        arrays = [a if hasattr(a, "shape") and hasattr(a, "dtype") else to_numpy(a)
                  for a in weights]
        for record, array in zip(self._weights, arrays, strict=True):
            if tuple(array.shape) != record.shape:
                raise ValueError(f"{owner}: weight {record.name!r} expects shape "
                                 f"{record.shape}, received shape {tuple(array.shape)}")
        for record, array in zip(self._weights, arrays, strict=True):
            record.assign(array)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"You tried to call count_params on {self.name}, but the layer "
                             "isn't built. Build it first (call it on data or give it an input shape).")
        return int(sum(w.size for w in self._weights))

    def apply_constraints(self) -> None:
        """Apply each weight's constraint to its stored value, in place."""
        for w in self._weights:
            if w.constraint is not None:
                w.assign(w.constraint(w.value))

    @property
    def losses(self) -> list:
        """Weight regularisation penalties, then activity penalties of the last call."""
        out = [w.regularizer(w.value) for w in self._weights if w.regularizer is not None]
        return out + list(self._call_losses)

    def add_loss(self, value) -> None:
        """Record a penalty computed during the current call (cleared at the next call)."""
        self._call_losses.append(value)

    # ------------------------------------------------------------ shapes
    @property
    def input_shape(self):
        shapes = [n.inputs[0].shape if len(n.inputs) == 1 and not n.input_is_list
                  else [t.shape for t in n.inputs] for n in self._inbound_nodes if n.inputs]
        if shapes:
            if any(s != shapes[0] for s in shapes):
                raise AttributeError(f"The layer {self.name!r} has multiple inbound nodes with "
                                     "different input shapes; input_shape is ill-defined")
            return shapes[0]
        if self._build_input_shape is not None:
            return _batchless(self._build_input_shape)
        if self.batch_input_shape is not None:
            return self.batch_input_shape
        raise AttributeError(f"The layer {self.name!r} has never been called and thus has no "
                             "defined input shape.")

    @property
    def output_shape(self):
        return self.compute_output_shape(self.input_shape)

    def check_input_shape(self, shape) -> None:
        """Raise ValueError naming the layer if ``shape`` has the wrong rank or channel count."""
        if _is_multi_shape(shape):
            return
        rank = len(shape)
        allowed = self.expected_rank
        if isinstance(allowed, int):
            allowed = (allowed,)
        if allowed is not None and rank not in allowed:
            want = " or ".join(str(r) for r in allowed)
            raise ValueError(f"{self._owner()}: expected an input of rank {want}, got rank {rank} "
                             f"(input shape {tuple(shape)})")
        if self.min_rank is not None and rank < self.min_rank:
            raise ValueError(f"{self._owner()}: expected an input of rank >= {self.min_rank}, "
                             f"got rank {rank} (input shape {tuple(shape)})")
        for axis, size in (self.expected_channels or {}).items():
            if -rank <= axis < rank:
                got = shape[axis]
                if isinstance(got, int) and got != size:
                    raise ValueError(f"{self._owner()}: expected {size} channels/features on axis "
                                     f"{axis}, got {got} (input shape {tuple(shape)})")

    def _maybe_build(self, shape) -> None:
        self.check_input_shape(shape)
        if self.built:
            return
        self.compute_output_shape(shape)  # bad shapes fail here, naming the layer
        self.build(shape)
        self.built = True
        self._build_input_shape = shape
        if self._initial_weights is not None:
            initial, self._initial_weights = self._initial_weights, None
            self.set_weights(initial)

    # ------------------------------------------------------------ calling
    def __call__(self, x, training=False, mask=None, **kwargs):
        if is_symbolic(x):
            return self._call_symbolic(x, training, mask, kwargs)
        if kwargs:
            raise TypeError(f"{self._owner()}: unexpected call argument(s) {sorted(kwargs)}")
        y, _ = self.call_and_mask(x, training=training, mask=mask)
        return y

    def call_and_mask(self, x, training=False, mask=None, epilogue=None):
        """Run the layer on arrays; returns ``(output, output_mask)``. Models use this.

        ``epilogue`` (a :class:`cthulhu.devices.Epilogue` of ``scale``, ``shift`` and an
        activation) is what a model folds into this layer at inference
        (:mod:`cthulhu.engine.fusion`): the layer then runs :meth:`call_with_epilogue`
        after the same input checks.
        """
        x, shape = checked_input(x, self)
        # A built layer remembers the last input kind it accepted (array type, shape,
        # dtype): the same again skips the shape and dtype checks (batch-1 calls).
        seen = None if type(shape) is not tuple else (type(x), shape, x.dtype)
        if seen is None or not self.built or seen != self.__dict__.get("_accepted"):
            self._maybe_build(shape)
            if self.requires_float_input:
                self._check_float(x)
            if seen is not None:
                self._accepted = seen
        if _has_mask(mask) and not self.supports_masking:
            self.compute_mask(x, mask)  # raises the Keras TypeError
        call_kwargs = {}
        if epilogue is None:
            wants_training, wants_mask = _call_accepts(type(self))
            if wants_training:
                call_kwargs["training"] = training
            if wants_mask:
                call_kwargs["mask"] = mask
        self._call_losses = []
        try:
            y = (self.call(x, **call_kwargs) if epilogue is None
                 else self.call_with_epilogue(x, epilogue))
        except MemoryError as exc:
            raise ValueError(f"{self._owner()}: not enough memory to compute the output for an "
                             f"input of shape {shape}") from exc
        if self.activity_regularizer is not None:
            outputs = y if isinstance(y, (list, tuple)) else [y]
            for out in outputs:
                self._call_losses.append(self.activity_regularizer(out))
        return y, self.compute_mask(x, mask)

    def _check_float(self, x) -> None:
        for t in x if isinstance(x, (list, tuple)) else [x]:
            if not _is_floating(t):
                raise TypeError(f"{self._owner()}: expected a floating-point input, "
                                f"got dtype {t.dtype}")

    def _call_symbolic(self, x, training, mask, kwargs):
        if kwargs:
            raise TypeError(f"{self._owner()}: unexpected call argument(s) {sorted(kwargs)}")
        is_list = isinstance(x, (list, tuple))
        inputs = list(x) if is_list else [x]
        shape = [t.shape for t in inputs] if is_list else x.shape
        self._maybe_build(shape)
        out_shape = self.compute_output_shape(shape)
        call_kwargs = {"training": True} if training else {}
        node = Node(self, inputs, input_is_list=is_list, call_kwargs=call_kwargs)
        multiple = _is_multi_shape(out_shape)
        if not multiple:
            out_shape = tuple(out_shape)
        else:
            out_shape = [tuple(s) for s in out_shape]
        return node.make_outputs(out_shape, self.dtype, multiple)


__all__ = ["Layer", "Weight", "SymbolicTensor", "to_snake_case", "unique_name", "reset_names",
           "to_numpy", "check_shape"]
