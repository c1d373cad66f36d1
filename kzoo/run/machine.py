"""What a run measures of and sets on the machine: peak memory, and the dtype policy for a block."""

from __future__ import annotations

import contextlib


def peak_memory_mib(status_path="/proc/self/status"):
    """Peak resident memory of this process so far, in MiB: Linux's VmHWM, else `resource.getrusage` (macOS
    reports bytes, other Unixes KiB), else None (Windows). For `kzoo train`, whose process does only this run, it
    is the run's peak; a benchmark's child process reads its own."""
    try:
        with open(status_path) as f:
            return round(next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024, 1)
    except (OSError, StopIteration):
        pass
    try:
        import resource
        import sys
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 2**20 if sys.platform == "darwin" else peak / 1024, 1)


def larger_peak(*values):
    """The largest of peak-memory readings that may be None (unavailable): None only when all are."""
    known = [v for v in values if v is not None]
    return max(known) if known else None


@contextlib.contextmanager
def dtype_policy(precision):
    """Set Keras' global dtype policy for the block, then restore the previous one."""
    import keras

    from kzoo import distribute
    previous = keras.config.dtype_policy()
    distribute.set_precision(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
