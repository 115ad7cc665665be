"""Small in-place array operations for the per-window hot loops (prediction's winner, the majority filter)."""
from __future__ import annotations

import numpy as np


def fill_where(out: np.ndarray, value: int | np.ndarray, where: np.ndarray, scratch: np.ndarray) -> None:
    """``out[where] = value`` in place, without branches, for uint8 ``out``; ``value`` a number or a uint8 array
    of ``out``'s shape (then ``out[where] = value[where]``: ``np.where(where, value, out)`` without a new array,
    6x faster on a 512 x 512 window).

    ``where`` (bool, the shape of ``out``) is overwritten (it becomes the byte mask 0 / 255) and ``scratch``
    (uint8, the same shape) is used as work space. NumPy's ``np.where`` allocates a new array and
    ``np.copyto(..., where=)`` branches on every element, slow when the mask is irregular (a classification's
    winners, its class boundaries); four passes of bitwise operations are 3-5x faster on a 512 x 512 window.

    >>> out = np.array([1, 2, 3], np.uint8)
    >>> fill_where(out, 7, np.array([True, False, True]), np.empty(3, np.uint8))
    >>> out
    array([7, 2, 7], dtype=uint8)
    >>> fill_where(out, np.array([4, 5, 6], np.uint8), np.array([False, True, False]), np.empty(3, np.uint8))
    >>> out
    array([7, 5, 7], dtype=uint8)
    """
    bits = where.view(np.uint8)
    np.negative(bits, out=bits)  # 1 -> 255: every bit set where ``where``
    np.bitwise_xor(out, value if isinstance(value, np.ndarray) else np.uint8(value), out=scratch)
    np.bitwise_and(scratch, bits, out=scratch)
    np.bitwise_xor(out, scratch, out=out)  # out ^ (out ^ value) = value where set, out elsewhere
