"""Run folders: train into one, open one again, evaluate, export and describe what it holds.

One module per job: ``spec`` (where the data comes from), ``config`` (presets and config files),
``folder`` (the folder and its files), ``training`` (train, resume, demo), ``export`` (evaluation,
arrays, images) and ``describe`` (architecture and history for people). The HTML report is
composed in ``deepae.report.run_report``. The ``deepae`` command is a thin layer over these.
"""

from .config import ESTIMATOR_PARAMS, parse_sizes, read_config_file, resolve_params
from .describe import architecture, describe_models, describe_presets, history_summary
from .export import check_output, evaluate, is_array_file, load_codes, write_array, write_evaluation, write_images
from .folder import (
    EVALUATION_FILE,
    LOSS_FIGURE,
    METRICS_FILE,
    RECONSTRUCTION_FIGURE,
    REPORT_FILE,
    Run,
    default_run_dir,
    load_for_run,
    open_run,
    prepare_run_dir,
)
from .spec import HOLDOUT_FRACTION, HOLDOUT_SEED, DataSpec, Notify, holdout_indices, load_demo_data
from .training import KERAS_NOTE, demo, resume, train

__all__ = [
    "ESTIMATOR_PARAMS",
    "EVALUATION_FILE",
    "HOLDOUT_FRACTION",
    "HOLDOUT_SEED",
    "KERAS_NOTE",
    "LOSS_FIGURE",
    "METRICS_FILE",
    "RECONSTRUCTION_FIGURE",
    "REPORT_FILE",
    "DataSpec",
    "Notify",
    "Run",
    "architecture",
    "check_output",
    "default_run_dir",
    "demo",
    "describe_models",
    "describe_presets",
    "evaluate",
    "history_summary",
    "holdout_indices",
    "is_array_file",
    "load_codes",
    "load_demo_data",
    "load_for_run",
    "open_run",
    "parse_sizes",
    "prepare_run_dir",
    "read_config_file",
    "resolve_params",
    "resume",
    "train",
    "write_array",
    "write_evaluation",
    "write_images",
]
