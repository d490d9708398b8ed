"""Pieces the layer families share: the activation/initializer plumbing and configs.

Keeping these in one place means every layer serialises its initializers,
regularizers, constraints and activation the same way (Keras 2's config keys).
"""

from cthulhu import activations, constraints, initializers, regularizers
from cthulhu.engine.utils import is_half_dtype

__all__ = ["namespace", "device_of", "is_half", "WeightOptions", "grouped_configs", "get_activation",
           "activation_config", "fusable_name", "activity_config", "constructor_arguments"]


def namespace(x):
    """The Array API namespace of ``x`` (``xp``)."""
    import array_api_compat

    return array_api_compat.array_namespace(x)


def is_half(x):
    """Whether ``x`` is float16 (not an Array API dtype: namespaces need not name it)."""
    return is_half_dtype(x.dtype)



def device_of(x):
    import array_api_compat

    return array_api_compat.device(x)


class WeightOptions:
    """The initializer, regularizer and constraint of one weight, normalised once.

    Parameters are whatever the user passed (names, dicts, objects, callables);
    ``config()`` gives the Keras 2 serialised forms under ``<prefix>_initializer``,
    ``<prefix>_regularizer`` and ``<prefix>_constraint``.
    """

    def __init__(self, prefix, initializer, regularizer, constraint, owner=None):
        self.prefix = prefix
        self.initializer = _lookup(initializers, initializer, f"{prefix}_initializer", owner)
        self.regularizer = _lookup(regularizers, regularizer, f"{prefix}_regularizer", owner)
        self.constraint = _lookup(constraints, constraint, f"{prefix}_constraint", owner)

    def config(self):
        return {
            f"{self.prefix}_initializer": initializers.serialize(self.initializer),
            f"{self.prefix}_regularizer": _serialize_or_none(regularizers, self.regularizer),
            f"{self.prefix}_constraint": _serialize_or_none(constraints, self.constraint),
        }

    def add_to(self, layer, name, shape):
        """Create the weight ``name`` of ``layer`` with these options."""
        return layer.add_weight(name, shape, self.initializer, regularizer=self.regularizer,
                                constraint=self.constraint)


def grouped_configs(*options):
    """``(initializers, regularizers, constraints)``: the options' config entries by kind.

    Keras 2 lists a layer's initializers first, then its regularizers (with
    ``activity_regularizer`` usually after them), then its constraints.
    """
    groups = ({}, {}, {})
    for option in options:
        # config() yields initializer, regularizer, constraint in that order.
        for group, (key, value) in zip(groups, option.config().items(), strict=True):
            group[key] = value
    return groups


def constructor_arguments(local_vars):
    """A public constructor's arguments, to pass on to its shared base as keywords.

    ``local_vars`` is ``locals()`` taken first thing in ``__init__``: the named
    parameters plus whatever ``**kwargs`` collected. The public classes spell out
    their documented signatures (the conformance tests check them); this spares
    them from spelling out the same names again in the call to the base.
    """
    named = {key: value for key, value in local_vars.items()
             if key not in ("self", "__class__", "kwargs")}
    return {**named, **local_vars["kwargs"]}



def _lookup(module, identifier, argument, owner):
    """``module.get(identifier)``, with errors naming the layer and the argument."""
    try:
        return module.get(identifier)
    except (ValueError, TypeError) as exc:
        label = owner._owner() if owner is not None else ""
        message = f"{label}: {argument}: {exc}" if label else f"{argument}: {exc}"
        raise type(exc)(message) from None


def _serialize_or_none(module, obj):
    return None if obj is None else module.serialize(obj)


def get_activation(activation, owner=None, name="activation"):
    """``None`` means linear, as in Keras 2; an unknown name is an error naming ``owner``."""
    return _lookup(activations, activation, name, owner)


def activation_config(activation):
    return activations.serialize(activation)


_FUSABLE_CACHE: dict = {}


def fusable_name(activation, fusable):
    """The activation's name if an op can fuse it (``'linear'``, ``'relu'``), else None.

    Called on every layer call, so the answer is cached per function (a batch-1
    ``Daoloth`` call is dominated by such per-call overheads).
    """
    key = (id(activation), fusable)
    hit = _FUSABLE_CACHE.get(key)
    if hit is not None and hit[0] is activation:
        return hit[1]
    name = activations.name_of(activation)  # built-ins only: a custom 'relu' is not fused
    result = name if name in fusable else None
    if len(_FUSABLE_CACHE) < 1024:
        _FUSABLE_CACHE[key] = (activation, result)
    return result


def activity_config(layer):
    """``activity_regularizer`` serialised (the base Layer stores it)."""
    return _serialize_or_none(regularizers, layer.activity_regularizer)

