"""The name earlier versions gave `kzoo.run`: ``kzoo.training.train(...)`` and the rest keep working."""

from kzoo.run import *  # noqa: F401,F403
from kzoo.run import __all__  # noqa: F401
from kzoo.run.saving import archive_precision as _archive_precision  # noqa: F401
from kzoo.run.saving import load_in_float32 as _load_in_float32  # noqa: F401
