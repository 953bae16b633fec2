"""Checkpoints that let a killed training run resume where it stopped.

Keras' `BackupAndRestore` saves `model.save_weights()` and an epoch counter.
A `CMGAN` needs more for its continuation to be the run it would have been:
both players' optimizers (moments, iteration counters that drive the
learning-rate schedule and the stateless sampling seeds, the generator's
weight averages), the layers' random-number states, the best validation score
so far and the history of earlier epochs. `EpochCheckpoints` keeps all of it
in a `tf.train.CheckpointManager`, which also prunes old checkpoints and
writes its files atomically: TensorFlow writes a checkpoint's files under
temporary names and then records it in the `checkpoint` index file with an
atomic write, so a kill mid-write leaves the last complete one in force.
"""

import keras
import tensorflow as tf
from absl import logging

from cmgan_tf import file_io
from cmgan_tf.checks import check_positive_int
from cmgan_tf.training import keras_compat

HISTORY_FILE = "history.json"


class EpochCheckpoints(keras.callbacks.Callback):
    """Saves the whole training state after every epoch and restores it.

    Args:
        directory: Where checkpoints are kept.
        restore_from: Where to look for a checkpoint to restore; defaults to
            `directory`. (A non-chief worker restores the chief's checkpoints
            but writes its own.)
        keep: How many of the latest checkpoints are kept.
        averaging: The run's `GeneratorWeightAveraging` callback, if any: the
            trained weights, not the averages it swaps in for validation, are
            what training continues from.
        monitor: Name of the logged score whose best value is kept.

    Call `restore()` after compiling and before `fit`; pass its result as
    `fit(initial_epoch=...)`. Put this callback after the validation and
    `BestWeights` callbacks, so that it records their results.
    """

    def __init__(
        self,
        directory,
        *,
        restore_from=None,
        keep=3,
        averaging=None,
        monitor="val_map_mean",
    ):
        super().__init__()
        check_positive_int("keep_checkpoints", keep)
        self.directory = directory
        self.restore_from = restore_from or directory
        self.keep = keep
        self.averaging = averaging
        self.monitor = monitor
        self.history = {}
        self.best = -float("inf")
        self._manager = None

    def _checkpoint(self, model):
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._best = tf.Variable(-float("inf"), dtype=tf.float64, trainable=False)
        state = {
            "model_variables": keras_compat.checkpoint_variables(model),
            "epoch": self._epoch,
            "best": self._best,
        }
        for name in ("d_optimizer", "g_optimizer"):
            if getattr(model, name, None) is not None:
                state[name] = getattr(model, name)
        return tf.train.Checkpoint(**state)

    def restore(self, model):
        """Restores the latest checkpoint into a compiled model, if there is one.

        Returns:
            The number of epochs already completed (0 for a new run).
        """
        tf.io.gfile.makedirs(self.directory)
        checkpoint = self._checkpoint(model)
        self._manager = tf.train.CheckpointManager(
            checkpoint, self.directory, max_to_keep=self.keep
        )
        latest = tf.train.latest_checkpoint(self.restore_from)
        if latest is None:
            return 0
        checkpoint.restore(latest).assert_existing_objects_matched()
        recorded = file_io.read_json(file_io.join(self.restore_from, HISTORY_FILE))
        epochs = int(self._epoch.numpy())
        # The history file may be one epoch ahead of a checkpoint whose write
        # was cut short; the checkpoint is what training continues from.
        self.history = {k: v[:epochs] for k, v in recorded.items()}
        self.best = float(self._best.numpy())
        return epochs

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        score = (logs or {}).get(self.monitor)
        if score is not None and score > self.best:
            self.best = float(score)
        self._epoch.assign(epoch + 1)
        self._best.assign(self.best)
        file_io.write_json_atomically(
            file_io.join(self.directory, HISTORY_FILE), self.history
        )
        if self.averaging is not None:
            with self.averaging.trained_weights():
                self._manager.save(checkpoint_number=epoch + 1)
        else:
            self._manager.save(checkpoint_number=epoch + 1)


class BestWeights(keras.callbacks.Callback):
    """Saves the model's weights whenever a logged score improves, atomically.

    Keras' `ModelCheckpoint(save_best_only=True)` writes straight into the
    destination, so a kill during the write leaves a damaged file; this writes
    through `file_io.save_atomically`.

    Args:
        path: Destination, a `.weights.h5` file.
        monitor: Logged score to maximise, or `None` to save at the end of
            every epoch, so that the file holds the last epoch's weights.
        best: Best score so far (a resumed run passes its own).
    """

    def __init__(self, path, monitor, best=-float("inf")):
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor is not None:
            score = (logs or {}).get(self.monitor)
            if score is None or not score > self.best:
                return
            self.best = float(score)
        file_io.save_atomically(self.path, self.model.save_weights)


def epochs_since_best(scores):
    """Epochs after the first epoch with the highest score.

    Args:
        scores: Per-epoch scores, higher is better, at least one.

    Returns:
        `len(scores) - 1 - i` for the first index `i` of `max(scores)`: a tie
        with the best is no improvement, as in Keras' `EarlyStopping`.
    """
    return len(scores) - 1 - scores.index(max(scores))


class ValidationPatience(keras.callbacks.Callback):
    """Stops training once the monitored score has not improved for `patience` epochs.

    Keras' `EarlyStopping` keeps its count of epochs without improvement in
    the callback, which a resumed run starts afresh, so a run killed and
    resumed would stop at another epoch than the run it continues. This
    counts from the history `EpochCheckpoints` saves with every checkpoint,
    so both stop at the same epoch. Put it after `EpochCheckpoints`, whose
    history then holds the epoch that just ended.

    Args:
        history: `EpochCheckpoints.history`, the dict of per-epoch logs.
        monitor: The logged score to maximise.
        patience: Epochs without improvement to allow, >= 1.
    """

    def __init__(self, history, monitor, patience):
        super().__init__()
        self.history = history
        self.monitor = monitor
        self.patience = check_positive_int("patience", patience)

    def exhausted(self):
        """Whether the scores so far call for stopping."""
        scores = self.history.get(self.monitor)
        return bool(scores) and epochs_since_best(scores) >= self.patience

    def on_epoch_end(self, epoch, logs=None):
        if self.exhausted():
            self.model.stop_training = True
            scores = self.history[self.monitor]
            logging.info(
                "Stopping after epoch %d: %s has not improved since epoch %d.",
                epoch + 1,
                self.monitor,
                len(scores) - epochs_since_best(scores),
            )
