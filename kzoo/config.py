"""Where kzoo keeps its converted data and weights."""

import os
import pathlib

# Choices of `kzoo train` (kept here so the command line can list them without importing TensorFlow).
STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# "auto": mixed_bfloat16 where the hardware computes bfloat16 natively, else float32 (see kzoo.distribute).
DEFAULT_PRECISION = "auto"


def kzoo_home() -> pathlib.Path:
    """The cache directory: `$KZOO_HOME`, else `$XDG_CACHE_HOME/kzoo`, else `~/.cache/kzoo`."""
    home = os.environ.get("KZOO_HOME")
    if home:
        return pathlib.Path(home).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(cache) / "kzoo"


def atomic_write_bytes(path: os.PathLike, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: a reader never sees half a file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_save_npz(path: os.PathLike, **arrays) -> None:
    """`np.savez` through `atomic_write_bytes`: a reader sees the old file or the whole new one."""
    import io

    import numpy as np
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


# CPU flags of native bfloat16 arithmetic: with one of them, precision `auto` resolves to mixed_bfloat16.
NATIVE_BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo (an empty set where there is none, e.g. macOS, Windows)."""
    try:
        with open("/proc/cpuinfo") as f:
            return {flag for line in f if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    except OSError:
        return set()
