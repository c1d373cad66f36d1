"""Runs: one run of a preset into a run folder (`train`, `Run`), one concern per module.

- `settings`: `RunSettings` (how a run goes beyond its preset) and the fingerprint a checkpoint must match;
- `folder`: `RunFolder`, the typed reader and writer of a run folder's files;
- `runner`: `train` and `Run`: data, model, `fit` with callbacks and checkpoints, figures, model, export, summary;
- `continuation`: continuing a trained model (``--init-from``);
- `prior`: latent priors fitted after training (`kzoo prior`);
- `report`: the FID report and the command that trains a run again;
- `saving`, `machine`: atomic model saving and `.keras` precision; peak memory and the dtype policy.
"""

from kzoo.run.folder import RunFolder, read_json, write_json
from kzoo.run.machine import dtype_policy, larger_peak, peak_memory_mib
from kzoo.run.prior import TRAINING_FILES, fit_prior, refit_latent_prior
from kzoo.run.report import report_markdown, reproducing_command, write_report
from kzoo.run.runner import Run, train
from kzoo.run.saving import archive_precision, load_in_float32, save_model_atomically
from kzoo.run.settings import JIT_COMPILE, RunSettings, changed_fields, fingerprint

__all__ = ["JIT_COMPILE", "TRAINING_FILES", "Run", "RunFolder", "RunSettings", "archive_precision", "changed_fields",
           "dtype_policy", "fingerprint", "fit_prior", "larger_peak", "load_in_float32", "peak_memory_mib",
           "read_json", "refit_latent_prior", "report_markdown", "reproducing_command", "save_model_atomically",
           "train", "write_json", "write_report"]
