"""Keep freed memory in the process for reuse (glibc's ``mallopt``), for whole-scene classification.

Classifying a scene window by window, on several threads, allocates and frees the same few arrays over and over:
a window's bands and derived bands (~6 MB for 6 bands of 512 x 512 float32), the pixels in the model's layout,
the forest's probabilities and tl2cgen's copy of its input (~1.5 MB per 65536-pixel chunk). With glibc's
defaults, such blocks are mapped for each allocation and unmapped when freed, or the heap's top is given back
to the system once more than ~2 x the block is free. Each time, the next window's pages are faulted in and zeroed
again, and, because the process has several threads on several cores, every unmapping interrupts the other
cores to flush their address translations (a TLB shootdown: an inter-processor interrupt, costly in a virtual
machine). On the 2-core machine of ``benchmarks/scale.py`` this made two one-thread forests on two threads
predict no faster than ~1.2 x one thread (the kernel's ``clear_page_erms``, ``native_write_msr`` and
``smp_call_function_many_cond`` in ``perf``); with the settings below, 1.6-2 x (issue 11).

:func:`keep_freed_memory` is called by the processes that classify whole scenes and exist for that alone: the
``landclass`` command and the dashboard's export processes (:mod:`landclass_ui.jobs`), never by a library
import or the dashboard's kernel. The cost: memory freed by the classification stays with the process (at most
its peak of live arrays; it ends when the classification does).

Settings (``man 3 mallopt``): ``M_MMAP_THRESHOLD`` 32 MiB (blocks below it, a window's arrays among them, come
from the heap, not from a mapping of their own), ``M_TOP_PAD`` 64 MiB (the heap grows in large steps),
``M_TRIM_THRESHOLD`` 512 MiB (free memory at the heap's top is given back only beyond that) and ``M_ARENA_MAX`` 1
(the threads share one heap: a thread's own arena, freed whole, would be unmapped). Setting any of the first three
turns glibc's own adjustment of the first off, so they are set together. Measured with ``perf`` on the stage of
``benchmarks/scale.py`` (30 Mpx, 2 cores), repeated in one process: the kernel's share of the CPU time went from
16-19 % to 2-3 %, the forest's from 60-62 % to 72-73 %; the peak memory of ``landclass classify`` went down
(0.66 to 0.57 GB: one heap instead of one per thread).
"""
from __future__ import annotations

import ctypes
import logging
import sys

__all__ = ["keep_freed_memory"]

LOG = logging.getLogger("landclass")

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -2, -3, -8  # glibc's malloc.h
MIB = 1024 ** 2
SETTINGS = ((M_MMAP_THRESHOLD, 32 * MIB), (M_TOP_PAD, 64 * MIB), (M_TRIM_THRESHOLD, 512 * MIB), (M_ARENA_MAX, 1))


def keep_freed_memory() -> bool:
    """Set glibc's allocator to keep freed blocks for reuse (see the module's docstring); True when it was set.

    Does nothing and returns False where the C library is not glibc (macOS, Windows, musl-based Linux): their
    allocators are left as they are. Never raises.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt, version = libc.mallopt, libc.gnu_get_libc_version
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    version.restype = ctypes.c_char_p
    done = all(mallopt(option, value) == 1 for option, value in SETTINGS)
    LOG.debug("glibc %s: freed memory kept for reuse: %s", version().decode(), done)
    return done
