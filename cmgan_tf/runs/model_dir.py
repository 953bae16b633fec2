"""The model directory of a run: what it holds and how it is read back.

`cmgan-train --model_dir=DIR` writes, in `DIR`:

- `config.json`: the `ExperimentConfig` of the run, written first;
- `checkpoints/`: the latest epochs' full training state, to resume from;
- `best.weights.h5`: the `CMGAN` weights of the epoch with the best validation
  MAP (mean of Image->Text and Text->Image);
- `logs/`: TensorBoard logs (every loss term and the validation scores);
- `encoder.keras`: the `CrossModalEncoder` built from the best weights, the
  artefact that evaluation and export load;
- `metrics.json`: best epoch, validation scores, training time, history.

An ensemble (`--ensemble_size` above 1) holds each member's run in
`members/member_K/` and, beside its `config.json`, the `EnsembleEncoder` of
the members as `encoder.keras` and a `metrics.json` with the members' best
epochs and validation scores and the ensemble's.

A run with `--refit` holds the run that chose the epoch on validation in
`selection/` and the run trained on the training and validation pairs for
that many epochs in `refit/`, whose encoder is copied to `encoder.keras`;
its `metrics.json` gives the chosen epoch and the selection run's validation
scores. An ensemble with `--refit` holds both in each member's directory.

`cmgan-evaluate` adds `evaluation.json`, the figures, grids and JSON of
`evaluation/` and the projector run `logs/projector/`. The directory may be on any file
system `tf.io.gfile` knows; every file in it is written by `cmgan_tf.file_io`.
"""

import keras

# `encoder.keras` names the project's layers; importing the package registers
# them with Keras, so a fresh process can load it.
import cmgan_tf.models  # noqa: F401
from cmgan_tf import file_io
from cmgan_tf.config import ExperimentConfig, flag_differences
from cmgan_tf.errors import InvalidInputError

CONFIG_FILE = "config.json"
BEST_WEIGHTS_FILE = "best.weights.h5"
ENCODER_FILE = "encoder.keras"
METRICS_FILE = "metrics.json"
SELECTION_DIR = "selection"
REFIT_DIR = "refit"
EVALUATION_FILE = "evaluation.json"
EVALUATION_DIR = "evaluation"
CHECKPOINT_DIR = "checkpoints"
LOGS_DIR = "logs"
MEMBERS_DIR = "members"


def path(model_dir, name):
    """Returns the path of file or folder `name` (one of this module's) of a run."""
    return file_io.join(model_dir, name)


def member_dir(model_dir, member):
    """Returns the model directory of an ensemble's member number `member`."""
    return file_io.join(model_dir, MEMBERS_DIR, f"member_{member}")


def training_history(model_dir):
    """Returns the per-epoch history of the run in `model_dir`, or `None`.

    An ensemble's is its first member's; a run with `--refit`'s is its
    selection run's, whose validation pairs were held out.

    Returns:
        Dict from metric name to a list with one value per epoch, or `None`
        for a directory without `metrics.json`.
    """
    metrics_path = path(model_dir, METRICS_FILE)
    if not file_io.exists(metrics_path):
        return None
    metrics = file_io.read_json(metrics_path)
    if "members" in metrics:
        return training_history(member_dir(model_dir, 0))
    if "refit" in metrics:
        return training_history(path(model_dir, SELECTION_DIR))
    return metrics.get("history")


def is_finished(model_dir):
    """Whether `model_dir` holds a finished run (its encoder is written last)."""
    return file_io.exists(path(model_dir, ENCODER_FILE))


def has_checkpoints(model_dir):
    """Whether `model_dir` holds the checkpoints of a started run."""
    return file_io.isdir(path(model_dir, CHECKPOINT_DIR))


def read_config(model_dir):
    """Returns the `ExperimentConfig` recorded in `model_dir`, or `None`."""
    config_path = path(model_dir, CONFIG_FILE)
    if not file_io.exists(config_path):
        return None
    return ExperimentConfig.from_json(file_io.read_text(config_path))


def check_same_run(config, model_dir):
    """Refuses to resume an interrupted run under another configuration.

    Args:
        config: The `ExperimentConfig` of the command being run.
        model_dir: A directory holding an interrupted run.

    Raises:
        InvalidInputError: naming each flag whose value differs.
    """
    recorded = read_config(model_dir)
    if recorded is None:
        return
    # How verbose the progress output is does not change the run.
    ignored = {"runtime": {"verbose": config.runtime.verbose}}
    if recorded.replace(**ignored) != config:
        differences = [
            f"--{name}={value!r} (was {old!r})"
            for name, value, old in flag_differences(
                config.replace(**ignored), recorded
            )
        ]
        raise InvalidInputError(
            f"{model_dir} holds an interrupted run with another configuration "
            f"({', '.join(differences)}). Re-run its command to resume it, or pass "
            "--overwrite to start again."
        )


def load_run(model_dir):
    """Returns `(config, encoder)` of a finished training run.

    Args:
        model_dir: Directory written by `cmgan-train`.

    Raises:
        InvalidInputError: if the directory lacks the config or the encoder,
            or the encoder file is damaged.
    """
    if not file_io.isdir(model_dir):
        raise InvalidInputError(f"--model_dir={model_dir} does not exist.")
    encoder_path = path(model_dir, ENCODER_FILE)
    config = read_config(model_dir)
    if config is None or not file_io.exists(encoder_path):
        raise InvalidInputError(
            f"--model_dir={model_dir} holds no finished training run: expected "
            f"{CONFIG_FILE} and {ENCODER_FILE} (written by cmgan-train when it "
            f"completes); found {file_io.listdir(model_dir) or 'nothing'}."
        )
    try:
        encoder = keras.saving.load_model(encoder_path)
    except Exception as error:  # Keras raises many types for a damaged file.
        raise InvalidInputError(
            f"Could not load {encoder_path}: {error}. The file is damaged; "
            "re-run cmgan-train."
        ) from error
    return config, encoder
