"""Helpers shared by the tests: plain-loop references, stand-ins, fixtures' data.

Import them as ``from tests.support import layer_refs`` or
``from tests.support.backends import Backend``. The array libraries the tests run
on are :mod:`tests.support.backends` (the ``Backend`` enum behind the ``xp``
fixture of ``tests/conftest.py``).
"""

from tests.support.backends import XP, Backend, call_generic, call_op, eager_xps, op_runners

__all__ = ["Backend", "XP", "call_op", "call_generic", "eager_xps", "op_runners"]
