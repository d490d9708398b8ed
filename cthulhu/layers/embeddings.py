"""``TheHydra``: the Keras 2 ``Embedding`` layer (integer indices to dense vectors)."""

import functools

import numpy as np

from cthulhu import shapes
from cthulhu.engine.base_layer import Layer
from cthulhu.layers import _args
from cthulhu.layers._common import (
    WeightOptions,
    activity_config,
    device_of,
    grouped_configs,
    namespace,
)
from cthulhu.names import register_layer
from cthulhu.ops.blockwise import blockwise, chunked

__all__ = ["TheHydra"]


@register_layer
class TheHydra(Layer):
    """Turn non-negative integer indices into dense vectors: ``embeddings[x]``.

    Parameters
    ----------
    input_dim : int
        Size of the vocabulary (largest index + 1).
    output_dim : int
        Dimension of the dense embedding.
    embeddings_initializer, embeddings_regularizer, embeddings_constraint
        For the ``embeddings`` weight, of shape ``(input_dim, output_dim)``.
    mask_zero : bool
        Index 0 is padding: the layer then produces a mask (``x != 0``) that
        downstream layers such as ``Laldagorth`` use to skip those steps.
    input_length : int, optional
        Length of the input sequences, when constant.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import TheHydra
    >>> layer = TheHydra(10, 4, mask_zero=True)
    >>> x = xp.asarray([[3, 0, 7]])
    >>> layer(x).shape
    (1, 3, 4)
    >>> layer.compute_mask(x)
    Array([[ True, False,  True]], dtype=array_api_strict.bool)
    """

    min_rank = 1

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, activity_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, **kwargs):
        if "input_shape" not in kwargs and input_length is not None:
            # Keras 2: input_length alone fixes the model's input shape.
            lengths = input_length if isinstance(input_length, (list, tuple)) else (input_length,)
            kwargs["input_shape"] = tuple(lengths)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.input_dim = _args.positive_int(input_dim, "input_dim", self)
        self.output_dim = _args.positive_int(output_dim, "output_dim", self)
        self.embeddings_options = WeightOptions("embeddings", embeddings_initializer,
                                                embeddings_regularizer, embeddings_constraint, self)
        self.mask_zero = _args.boolean(mask_zero, "mask_zero", self)
        shapes.embedding((None,) * (1 + len(_as_list(input_length))), self.output_dim,
                         input_length, owner=self)  # validates input_length now
        self.input_length = input_length
        self.supports_masking = self.mask_zero

    def compute_output_shape(self, input_shape):
        return shapes.embedding(input_shape, self.output_dim, self.input_length, owner=self)

    def build(self, input_shape):
        self.embeddings_options.add_to(self, "embeddings", (self.input_dim, self.output_dim))
        self.built = True

    def compute_mask(self, x, mask=None):
        if not self.mask_zero:
            return None
        return x != 0

    def call(self, x):
        xp = namespace(x)
        if xp.isdtype(x.dtype, "bool") or not xp.isdtype(x.dtype, ("integral", "real floating")):
            raise _args.layer_error(self, f"expects integer indices, got dtype {x.dtype}",
                                    TypeError)
        lookup = _Lookup(self._owner(), self.input_dim)
        if not chunked(x):
            return lookup(x, self.weight_as(x, "embeddings"))
        # A chunked array (Dask) is not computed here: each block checks its own indices
        # when it is computed, and an index out of range fails there, naming this layer.
        dtype = x.dtype if xp.isdtype(x.dtype, "real floating") else np.dtype(self.dtype)
        table = np.asarray(self.get_weight("embeddings"), dtype=dtype)
        return blockwise(functools.partial(lookup, table=table), x, dtype=dtype,
                         new_axis=self.output_dim)

    def get_config(self):
        initializers, regularizers, constraints = grouped_configs(self.embeddings_options)
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                **initializers,
                **regularizers,
                "activity_regularizer": activity_config(self),
                **constraints,
                "mask_zero": self.mask_zero, "input_length": self.input_length}


def _as_list(input_length):
    if input_length is None:
        return [None]
    return list(input_length) if isinstance(input_length, (list, tuple)) else [input_length]


class _Lookup:
    """``table[x]`` for one array or block, refusing indices outside ``[0, input_dim)``.

    A small class (not a closure) so that a distributed scheduler can ship it.
    """

    def __init__(self, owner, input_dim):
        self.owner, self.input_dim = owner, input_dim

    def __call__(self, x, table):
        xp = namespace(x)
        if type(table) is not type(x):
            table = xp.asarray(table, device=device_of(x))  # the host table into x's library
        if xp.isdtype(x.dtype, "real floating"):
            x = xp.astype(x, xp.int64)  # Keras 2 casts float indices to int
        flat = xp.reshape(x, (-1,))
        if flat.shape[0]:
            low, high = int(xp.min(flat)), int(xp.max(flat))
            if low < 0 or high >= self.input_dim:
                raise ValueError(f"{self.owner}: indices must be in [0, {self.input_dim}) "
                                 f"(input_dim={self.input_dim}), got values in [{low}, {high}]")
        out = xp.take(table, flat, axis=0)
        return xp.reshape(out, (*x.shape, table.shape[1]))
