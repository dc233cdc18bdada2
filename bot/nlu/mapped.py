"""Read-only memory maps of ``.npy`` tables (the n-gram tables of the heads, the encoder's word table)."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np


def map_npy(path: str | Path) -> np.ndarray:
    """A read-only memory map of a ``.npy`` file, advised for random access.

    ``np.load(mmap_mode="r")`` would let the kernel read ahead around every touched row (rows of a hashed
    n-gram table are looked up at random), which makes far more of the file resident than is ever read.
    """
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if hasattr(mmap, "MADV_RANDOM"):
        buf.madvise(mmap.MADV_RANDOM)
    count = int(np.prod(shape))
    arr = np.frombuffer(buf, dtype=dtype, count=count, offset=offset)
    return arr.reshape(shape, order="F" if fortran else "C")
