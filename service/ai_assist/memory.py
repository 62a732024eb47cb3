"""Giving freed heap back to the operating system after start-up.

Building the index (encoding the whole catalogue, ChromaDB's add) allocates a few
hundred MiB of short-lived buffers on glibc's malloc arenas, spread over the threads
that did the work. Python frees them, but glibc keeps the pages, so a process that
built its index stayed ~260 MiB larger than one that reused it. malloc_trim(0) returns
the free pages of every arena; there is no library for this one call, and on a libc
without it (musl, macOS) nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def release_free_memory() -> bool:
    """Collect garbage and hand glibc's free heap pages back; True when trimmed."""
    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(trim(0))
