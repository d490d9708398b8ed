"""A tiny stand-in convolution layer and model with a NumPy reference implementation.

They let the block planner be checked against an independent whole-array
computation without depending on the real layers: a direct sum over kernel
taps on a zero-padded array (padding amounts from ``cthulhu.shapes``). The
model offers only what ``cthulhu.blockwise`` may read of a model - ``graph()``,
a :class:`cthulhu.engine.graph.ModelGraph` -, the layer only ``shape_spec()``,
``get_weights()``, ``explicit_pads`` and ``call_with_pads``.
"""

import numpy as np

from cthulhu import shapes


def reference_conv(x, kernel, bias, strides, padding, dilation):
    """channels_last N-D cross-correlation by summing shifted slices (no im2col).

    ``padding``: a name, or explicit ``(lo, hi)`` zeros per spatial axis."""
    rank = x.ndim - 2
    if isinstance(padding, str):
        pads = [shapes.conv_padding(n, k, s, padding, d) for n, k, s, d in
                zip(x.shape[1:-1], kernel.shape[:rank], strides, dilation, strict=True)]
    else:
        pads = [tuple(p) for p in padding]
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    out_len = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in
               zip(xp.shape[1:-1], kernel.shape[:rank], strides, dilation, strict=True)]
    y = np.zeros((x.shape[0], *out_len, kernel.shape[-1]), dtype=np.float64)
    for tap in np.ndindex(*kernel.shape[:rank]):
        index = tuple(slice(t * d, t * d + (m - 1) * s + 1, s)
                      for t, d, m, s in zip(tap, dilation, out_len, strides, strict=True))
        y += np.tensordot(xp[(slice(None), *index)], kernel[tap], axes=([-1], [0]))
    return (y + bias).astype(x.dtype)


class StandInConv:
    """Duck-typed like a cthulhu conv layer (config, weights, shape_spec, call)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 rank=3, name="standin", seed=0, activation=None):
        self.filters, self.rank, self.name = filters, rank, name
        self.kernel_size = shapes.as_tuple(kernel_size, rank, "kernel_size")
        self.strides = shapes.as_tuple(strides, rank, "strides")
        self.dilation_rate = shapes.as_tuple(dilation_rate, rank, "dilation_rate")
        self.padding, self.seed, self.activation = padding, seed, activation
        self.data_format = "channels_last"
        self.kernel = self.bias = None

    def get_config(self):
        return {"filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate, "rank": self.rank,
                "name": self.name, "seed": self.seed, "activation": self.activation}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def build(self, input_shape):
        rng = np.random.default_rng(self.seed)
        shape = (*self.kernel_size, input_shape[-1], self.filters)
        self.kernel = rng.standard_normal(shape).astype(np.float32) / np.sqrt(np.prod(shape[:-1]))
        self.bias = rng.standard_normal(self.filters).astype(np.float32)

    def get_weights(self):
        return [self.kernel.copy(), self.bias.copy()]

    def set_weights(self, weights):
        self.kernel, self.bias = (np.asarray(w) for w in weights)

    def compute_output_shape(self, input_shape):
        return shapes.conv(input_shape, self.filters, self.kernel_size, self.strides,
                           self.padding, self.dilation_rate, "channels_last")

    def shape_spec(self):
        return {"kind": "conv", "rank": self.rank, "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate,
                "data_format": "channels_last"}

    explicit_pads = True

    def call_with_pads(self, x, pads):
        if self.kernel is None:
            self.build(x.shape)
        padding = [(0, 0)] * self.rank if pads == "valid" else pads
        y = reference_conv(np.asarray(x), self.kernel, self.bias, self.strides, padding,
                           self.dilation_rate)
        return np.maximum(y, 0) if self.activation == "relu" else y

    def __call__(self, x):
        return self.call_with_pads(x, [shapes.conv_padding(n, k, s, self.padding, d) for n, k, s, d
                                       in zip(x.shape[1:-1], self.kernel_size, self.strides,
                                              self.dilation_rate, strict=True)])


class StandInPile:
    """A model stand-in: ``layers``, ``predict`` and ``graph()`` (a chain of its layers)."""

    def __init__(self, layers, name="standin_pile"):
        self.layers, self.name = layers, name

    def graph(self, expand=False):
        from cthulhu.engine.graph import GraphNode, ModelGraph

        shape = (None, None, None)
        nodes = [GraphNode(0, None, (), (), False, shape)]
        for i, layer in enumerate(self.layers, start=1):
            shape = layer.compute_output_shape(shape)
            nodes.append(GraphNode(i, layer, (i - 1,), (0,), False, shape))
        return ModelGraph(tuple(nodes), (0,), (len(self.layers),), (0,))

    def predict(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def get_config(self):
        return {"name": self.name, "layers": [layer.get_config() for layer in self.layers]}
