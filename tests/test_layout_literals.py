"""``data_format`` has one home: ``cthulhu/shapes/layout.py``.

Code elsewhere asks the layout functions (``shapes.is_channels_first``,
``channel_index``, ``spatial_axes``, ``split_channels``, ``to_channels_last``
...) or an op's geometry (``geometry.channels_first``, ``geometry.channel_axis``)
instead of comparing a data format with a string literal. There are no exceptions
(the kernel glue reads the geometries since issue 9); the list stays empty.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "cthulhu"
LITERAL = re.compile(r"""[=!]=\s*['"]channels_(last|first)['"]"""
                     r"""|['"]channels_(last|first)['"]\s*[=!]=""")

EXCEPTIONS: set[str] = set()


def _offenders():
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "shapes/layout.py":
            continue
        lines = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if LITERAL.search(line)]
        if lines:
            found[rel] = lines
    return found


def test_data_format_is_compared_only_in_the_layout_module():
    found = _offenders()
    assert set(found) - EXCEPTIONS == set(), {k: found[k] for k in set(found) - EXCEPTIONS}


def test_exceptions_are_still_needed():
    # an exception that no longer compares literals must leave the list
    assert EXCEPTIONS <= set(_offenders())


def test_the_pattern_sees_comparisons():
    assert LITERAL.search('if fmt == "channels_last":')
    assert LITERAL.search("x = 1 if 'channels_first' != data_format else 2")
    assert not LITERAL.search('data_format="channels_last"')
