"""Resuming an unfinished output: which block it used, and what differs, in words.

A resume needs the block shape of the run that created the output (the blocks
are the output's chunks and its records). When the caller gives no block shape,
the recorded one is used; when the caller gives another one, the refusal says
both.
"""

from __future__ import annotations

__all__ = ["recorded_block", "block_of_info", "decide", "describe_differences",
           "check_resumable"]

# identity entries shown with their values (the others are digests, not worth showing)
_SHOWN = ("block shape", "input shape", "input dtype", "output shape", "dtype")
# storage options, recorded only when not the default (options.py)
_DEFAULTS = {"output chunks": "one per block", "output dtype": "the compute dtype",
             "compression": "zstd"}


def recorded_block(target, rank):
    """The block shape of the unfinished cthulhu output at ``target``, or ``None``.

    ``None`` as well when there is no output, a finished one, or anything that is not
    an unfinished cthulhu output of this format (the run then decides, and refuses,
    as it would without this).
    """
    from . import outputs

    try:
        info = outputs.existing_output(target, to_replace=False)
    except (OSError, ValueError):
        return None
    return block_of_info(info, rank)


def block_of_info(info, rank):
    """The recorded block in an output's ``"cthulhu"`` attributes ``info``, if unfinished."""
    from . import outputs

    if not info or info.get("complete") or info.get("format_version") != outputs.FORMAT_VERSION:
        return None
    block = (info.get("identity") or {}).get("block shape")
    if (isinstance(block, list) and len(block) == rank
            and all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in block)):
        return tuple(block)
    return None


def decide(name, info, identity, overwrite, records_there):
    """``"new"``, ``"overwrite"`` or ``"resume"`` for an output whose attributes are ``info``
    (``None``: nothing there); raises ``FileExistsError`` when it may not be used.

    ``records_there``: whether the output's block records of its generation exist.
    """
    from . import outputs

    if info is None:
        return "new"
    if overwrite:
        return "overwrite"
    if info.get("complete"):
        raise FileExistsError(f"output {name!r} already exists; pass overwrite=True "
                              "(--overwrite) to replace it")
    if info.get("format_version") != outputs.FORMAT_VERSION:
        raise FileExistsError(f"output {name!r} holds an unfinished run of an older cthulhu "
                              f"(output format {info.get('format_version')}), which cannot be "
                              "resumed; pass overwrite=True (--overwrite) to start again")
    if not (isinstance(info.get("generation"), str) and records_there):
        raise FileExistsError(f"output {name!r} is unfinished but has lost its block records; "
                              "pass overwrite=True (--overwrite) to start again")
    stored = info.get("identity") or {}
    differ = describe_differences(stored, identity)
    if differ:
        hint = ""
        if stored.get("block shape") != identity.get("block shape"):
            hint = ", or leave block_shape (--block) out to resume with the recorded one"
        raise FileExistsError(f"output {name!r} holds an unfinished run that differs from "
                              f"this one in: {differ}; pass overwrite=True (--overwrite) to "
                              f"replace it{hint}")
    return "resume"


def _text(value, key=None):
    if value is None and key in _DEFAULTS:
        return _DEFAULTS[key]
    if isinstance(value, list):
        return "(" + ", ".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def describe_differences(stored, identity):
    """``"model weights, block shape (this run (64, 64, 64), the unfinished run (32, 32, 32))"``.

    Both identities' keys count: the storage options are recorded only where they
    differ from their defaults (so outputs of earlier releases still resume).
    """
    words = []
    for key in [*identity, *(k for k in stored if k not in identity)]:
        new, old = identity.get(key), stored.get(key)
        if old == new:
            continue
        if key in _SHOWN or key in _DEFAULTS:
            words.append(f"{key} (this run {_text(new, key)}, the unfinished run "
                         f"{_text(old, key)})")
        else:
            words.append(key)
    return ", ".join(words)


def check_resumable(target, info, source):
    """Refuse to resume an output whose input content cannot be compared.

    A lazy Dask input is not digested (:func:`.digest.input_parts`): blocks already
    written may come from other values than the ones it would compute now (its graph
    may read files that changed, or draw random numbers), so its unfinished output
    is not resumed; and an output made from such an input holds no digest to
    compare a resume's input with.
    """
    name = f"{target!r}" if isinstance(target, str) else repr(str(target))
    if source.kind == "dask" or info.get("input_digest") is None:
        what = ("this run's input is a lazy Dask array" if source.kind == "dask"
                else "it was made from a lazy Dask array")
        raise FileExistsError(
            f"output {name} holds an unfinished run that cannot be resumed: {what}, whose "
            "values cthulhu does not digest (that would compute it twice); pass overwrite=True "
            "(--overwrite) to start again - to make a run resumable, store the input first "
            "(x.to_zarr('input.zarr')) and run from the store")
