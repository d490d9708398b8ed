"""The weights of a model being loaded, allocated within the bytes its file can supply.

A config may declare any shapes; a file holds only so many bytes of weights. Each
weight is allocated here, and one that would take more than what is left is refused
before any memory is taken (``docs/security.md``): a few bytes of config cannot make
the loader allocate gigabytes.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["WeightBudget"]


class WeightBudget:
    """``allocate(owner, name, shape, dtype)`` within ``limit`` bytes in all.

    ``refuse(declared, nbytes, left)`` builds the exception raised for a weight that
    does not fit; ``declared`` reads "<owner> declares weight '<name>' of shape (...)".
    """

    def __init__(self, limit, refuse):
        self.left, self._refuse = limit, refuse

    def allocate(self, owner, name, shape, dtype):
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > self.left:
            raise self._refuse(f"{owner} declares weight {name!r} of shape {shape}", nbytes,
                               self.left)
        self.left -= nbytes
        return np.zeros(shape, dtype)  # untouched pages cost nothing until the file fills them
