"""Resuming an unfinished output: which block it used, and what differs, in words.

A resume needs the block shape of the run that created the output (the blocks
are the output's chunks and its records). When the caller gives no block shape,
the recorded one is used; when the caller gives another one, the refusal says
both.
"""

from __future__ import annotations

__all__ = ["recorded_block", "describe_differences"]

# identity entries shown with their values (the others are digests, not worth showing)
_SHOWN = ("block shape", "input shape", "input dtype", "output shape", "dtype")


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
    if not info or info.get("complete") or info.get("format_version") != outputs.FORMAT_VERSION:
        return None
    block = (info.get("identity") or {}).get("block shape")
    if (isinstance(block, list) and len(block) == rank
            and all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in block)):
        return tuple(block)
    return None


def _text(value):
    if isinstance(value, list):
        return "(" + ", ".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def describe_differences(stored, identity):
    """``"model weights, block shape (this run (64, 64, 64), the unfinished run (32, 32, 32))"``."""
    words = []
    for key, value in identity.items():
        old = stored.get(key)
        if old == value:
            continue
        if key in _SHOWN:
            words.append(f"{key} (this run {_text(value)}, the unfinished run {_text(old)})")
        else:
            words.append(key)
    return ", ".join(words)
