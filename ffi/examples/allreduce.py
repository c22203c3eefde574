"""Allreduce of a numpy array, in place, through libfccl with ctypes.

The array's own memory goes to fccl (no per-element copies):

    FCCL_LIB=target/debug/libfccl.so fccl run -n 4 -- python3 ffi/examples/allreduce.py
"""

import ctypes
import os
import sys

import numpy as np

FCCL_SUCCESS = 0
FCCL_FLOAT32 = 7
FCCL_FLOAT64 = 8
FCCL_SUM = 0
FCCL_MAX = 2

lib = ctypes.CDLL(os.environ.get("FCCL_LIB", "libfccl.so"))
lib.fccl_get_error_string.restype = ctypes.c_char_p
lib.fccl_get_last_error.restype = ctypes.c_char_p
lib.fccl_allreduce.argtypes = [
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_void_p,
]


def check(result):
    if result != FCCL_SUCCESS:
        what = lib.fccl_get_error_string(result).decode()
        raise RuntimeError(f"fccl: {what}: {lib.fccl_get_last_error().decode()}")


def allreduce_(array, op, comm):
    """Reduces `array` across the ranks in place."""
    assert array.flags.c_contiguous
    dtype = {np.dtype(np.float32): FCCL_FLOAT32, np.dtype(np.float64): FCCL_FLOAT64}
    ptr = array.ctypes.data
    check(lib.fccl_allreduce(ptr, ptr, array.size, dtype[array.dtype], op, comm))


def main():
    comm = ctypes.c_void_p()
    check(lib.fccl_comm_init_from_env(ctypes.byref(comm)))
    rank, size = ctypes.c_int(), ctypes.c_int()
    check(lib.fccl_comm_rank(comm, ctypes.byref(rank)))
    check(lib.fccl_comm_size(comm, ctypes.byref(size)))
    rank, size = rank.value, size.value

    grads = np.arange(100_000, dtype=np.float32) + rank
    address = grads.ctypes.data
    allreduce_(grads, FCCL_SUM, comm)
    want = size * np.arange(100_000, dtype=np.float32) + size * (size - 1) / 2
    assert grads.ctypes.data == address, "the array was replaced, not reduced in place"
    assert np.array_equal(grads, want), f"rank {rank}: wrong sum"

    peaks = np.full((3, 4), float(rank))
    allreduce_(peaks, FCCL_MAX, comm)
    assert (peaks == size - 1).all(), f"rank {rank}: wrong max"

    check(lib.fccl_comm_destroy(comm))
    print(f"rank {rank} of {size}: numpy allreduce ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report, and fail the job
        print(e, file=sys.stderr)
        sys.exit(1)
