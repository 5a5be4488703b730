"""The plan's GT boxes: one view of the readers' array when the queries' boxes are consecutive
slices of it, and the concatenation otherwise; the same values either way."""

from __future__ import annotations

import numpy as np

from tubescope.eval import protocols


def test_consecutive_slices_are_viewed_not_copied() -> None:
    base = np.arange(40, dtype=np.float64).reshape(10, 4)
    base.setflags(write=False)
    parts = [base[0:3], base[3:3], base[3:7], base[7:10]]
    whole = protocols._contiguous(parts)
    assert whole is not None and np.shares_memory(whole, base)
    assert np.array_equal(whole, np.concatenate(parts))
    middle = protocols._contiguous([base[1:2], base[2:5]])  # any run of rows
    assert middle is not None and middle.tolist() == base[1:5].tolist()
    assert not middle.flags.writeable


def test_anything_else_is_concatenated() -> None:
    base = np.arange(40, dtype=np.float64).reshape(10, 4)
    other = base.copy()
    for parts in (
        [base[0:3], base[4:7]],  # a gap
        [base[3:6], base[0:3]],  # out of order
        [base[0:3], other[3:5]],  # two arrays
        [base[0:3, :2], base[3:5, :2]],  # not whole rows
        [base[::2], base[5:]],  # strided
        [np.zeros((2, 4)), np.ones((1, 4))],  # no common base
    ):
        assert protocols._contiguous(parts) is None
