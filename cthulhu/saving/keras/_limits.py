"""Bounds on what a Keras file may make the readers allocate, and the one error class.

Every size is checked BEFORE the bytes are read or inflated: a zip entry's declared size and
its compression ratio, an HDF5 dataset's declared shape, dtype and stored size, an HDF5
attribute's type and length, the config text's size and its JSON nesting depth.
"""

from __future__ import annotations

import dataclasses
import json

MiB = 1 << 20
GiB = 1 << 30


class KerasFileError(ValueError):
    """A Keras file that cannot be read as data: corrupt, hostile, or of an unknown kind.

    Always one line naming the file (or ``<json text>``) and what is wrong with it.
    """


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one read may cost. The defaults fit any real Keras model on a workstation.

    Attributes
    ----------
    max_config_bytes : int
        Size of a model config (``config.json``, the ``model_config`` attribute, JSON text).
    max_json_depth : int
        Nesting depth of a config (a real Keras config is under 30 deep).
    max_weight_bytes : int
        Total declared bytes of all weight arrays of one file.
    max_expansion : int
        Largest ratio of declared to stored bytes for one zip entry or HDF5 dataset bigger
        than ``expansion_floor_bytes`` (real weights barely compress; bombs compress 1000x).
    expansion_floor_bytes : int
        Entries and datasets up to this size are exempt from the ratio check.
    max_objects : int
        HDF5 groups, datasets and attributes visited, and zip entries listed, per file.
    max_name_bytes : int
        Length of one layer or weight name.
    max_names : int
        Number of names in one ``layer_names``/``weight_names`` attribute.
    """

    max_config_bytes: int = 64 * MiB
    max_json_depth: int = 100
    max_weight_bytes: int = 64 * GiB
    max_expansion: int = 100
    expansion_floor_bytes: int = 16 * MiB
    max_objects: int = 1_000_000
    max_name_bytes: int = 4096
    max_names: int = 1_000_000


DEFAULT_LIMITS = Limits()


class Budget:
    """The weight bytes a file may still declare, and the HDF5/zip objects it may still hold."""

    def __init__(self, where, limits):
        self.where = where
        self.limits = limits
        self.weight_bytes = limits.max_weight_bytes
        self.objects = limits.max_objects

    def spend_weights(self, nbytes, what):
        if nbytes > self.weight_bytes:
            raise KerasFileError(
                f"{self.where}: {what} declares {nbytes} bytes, more than the "
                f"{self.limits.max_weight_bytes} bytes of weights one file may hold "
                "(Limits.max_weight_bytes)")
        self.weight_bytes -= nbytes

    def spend_object(self):
        self.objects -= 1
        if self.objects < 0:
            raise KerasFileError(f"{self.where}: more than {self.limits.max_objects} objects "
                                 "(Limits.max_objects); refusing to walk it")

    def check_expansion(self, declared, stored, what):
        limits = self.limits
        if declared > limits.expansion_floor_bytes and declared > limits.max_expansion * max(
                stored, 1):
            raise KerasFileError(
                f"{self.where}: {what} declares {declared} bytes but stores only {stored} "
                f"(more than {limits.max_expansion}x expansion): refusing a decompression bomb")


def load_json(data, where, what, limits):
    """Parse a config: bounded size, valid UTF-8, bounded depth, an object at the top."""
    if len(data) > limits.max_config_bytes:
        raise KerasFileError(f"{where}: {what} is {len(data)} bytes, more than the "
                             f"{limits.max_config_bytes} a config may have "
                             "(Limits.max_config_bytes)")
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise KerasFileError(f"{where}: {what} is not UTF-8 text ({exc.reason} at byte "
                                 f"{exc.start})") from None
    try:
        value = json.loads(data)
    except RecursionError:
        raise KerasFileError(f"{where}: {what} is nested too deeply to be a Keras config") \
            from None
    except ValueError as exc:
        raise KerasFileError(f"{where}: {what} is not valid JSON ({exc})") from None
    depth = json_depth(value, limits.max_json_depth)
    if depth > limits.max_json_depth:
        raise KerasFileError(f"{where}: {what} is nested more than {limits.max_json_depth} "
                             "deep (Limits.max_json_depth); refusing it")
    if not isinstance(value, dict):
        raise KerasFileError(f"{where}: {what} is JSON but not an object "
                             f"(a {type(value).__name__})")
    return value


def json_depth(value, stop):
    """Nesting depth of parsed JSON, iteratively; stops counting past ``stop``."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > stop:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest
