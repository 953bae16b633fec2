"""Stopping training, with a named cause, as soon as a loss is not finite."""

import math

import keras

from cmgan_tf.errors import TrainingDivergedError


class DivergenceGuard(keras.callbacks.Callback):
    """Raises `TrainingDivergedError` at the first step with a NaN/Inf loss.

    Keras' `TerminateOnNaN` looks at the total loss only and stops silently;
    a GAN has one loss per player and per term, and the user needs to know
    which one went wrong and when. The error stops `fit` before the epoch's
    checkpoint is written, so the last checkpoint on disk is a finite one.

    Args:
        checkpoint_hint: Text naming where the last good checkpoint is, added
            to the message.
    """

    def __init__(self, checkpoint_hint=""):
        super().__init__()
        self.checkpoint_hint = checkpoint_hint
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = sorted(
            name
            for name, value in (logs or {}).items()
            if name.endswith("loss") and not math.isfinite(float(value))
        )
        if bad:
            raise TrainingDivergedError(
                f"Training diverged at epoch {self._epoch + 1}, step {batch + 1}: "
                f"{', '.join(bad)} became NaN or Inf. {self.checkpoint_hint}"
                "Lower --learning_rate or set --clip_norm, then re-run with "
                "--overwrite."
            )
