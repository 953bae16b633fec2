"""Polyak averaging of the generator: what validation, checkpoints and export see."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.presets import preset
from cmgan_tf.training.averaging import GeneratorWeightAveraging
from cmgan_tf.training.builder import build_cmgan, build_optimizers
from cmgan_tf.training.distribution import make_strategy

MOMENTUM = 0.6
STEPS_PER_EPOCH = 3


class _Recorder(keras.callbacks.Callback):
    """Records the generator's weights after every step and at epoch edges."""

    def __init__(self):
        super().__init__()
        self.steps, self.epoch_ends, self.epoch_begins = [], [], []

    def _weights(self):
        return [v.numpy().copy() for v in self.model.generator.trainable_variables]

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self._weights())

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_ends.append(self._weights())

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_begins.append(self._weights())


def _exponential_moving_average(steps):
    """Reference average: the first step's weights, then `m * avg + (1 - m) * w`."""
    averages, average = [], None
    for weights in steps:
        average = (
            weights
            if average is None
            else [
                MOMENTUM * a + (1 - MOMENTUM) * w
                for a, w in zip(average, weights, strict=True)
            ]
        )
        averages.append(average)
    return averages


@pytest.mark.parametrize(
    "strategy", ["default", pytest.param("mirrored", marks=pytest.mark.slow)]
)
def test_epoch_end_callbacks_see_the_moving_average(paired_split, strategy):
    config = preset("smoke").replace(
        training={"generator_steps": 1, "ema_momentum": MOMENTUM}
    )
    with make_strategy(strategy).scope():
        cmgan = build_cmgan(config, paired_split, multi_label=False)
        d_optimizer, g_optimizer = build_optimizers(config.training, STEPS_PER_EPOCH)
        # XLA on one device, where the averaging update is compiled with the
        # optimizer's; per-replica compilation is test_cmgan's.
        cmgan.compile(
            d_optimizer,
            g_optimizer,
            generator_steps=1,
            jit_compile=strategy == "default",
        )
    batch = {
        "image": paired_split.images[:32],
        "text": paired_split.texts[:32],
        "labels": paired_split.labels[:32],
    }
    batches = tf.data.Dataset.from_tensors(batch).repeat(STEPS_PER_EPOCH)
    recorder = _Recorder()
    # The recorder comes after the averaging, as validation and checkpoints do.
    cmgan.fit(
        batches, epochs=2, verbose=0, callbacks=[GeneratorWeightAveraging(), recorder]
    )

    averages = _exponential_moving_average(recorder.steps)
    for epoch, seen in enumerate(recorder.epoch_ends):
        expected = averages[(epoch + 1) * STEPS_PER_EPOCH - 1]
        trained = recorder.steps[(epoch + 1) * STEPS_PER_EPOCH - 1]
        assert any(
            not np.allclose(e, t) for e, t in zip(expected, trained, strict=True)
        )
        for value, reference in zip(seen, expected, strict=True):
            np.testing.assert_allclose(value, reference, rtol=1e-5, atol=1e-6)
    # Training resumes from the trained weights, not from the averages.
    for value, trained in zip(
        recorder.epoch_begins[1], recorder.steps[STEPS_PER_EPOCH - 1], strict=True
    ):
        np.testing.assert_array_equal(value, trained)
    # After the last epoch the model keeps the averages.
    for variable, reference in zip(
        cmgan.generator.trainable_variables, averages[-1], strict=True
    ):
        np.testing.assert_allclose(variable.numpy(), reference, rtol=1e-5, atol=1e-6)


def test_averaging_requires_an_averaging_optimizer(paired_split):
    config = preset("smoke")
    cmgan = build_cmgan(config, paired_split, multi_label=False)
    cmgan.compile(*build_optimizers(config.training, STEPS_PER_EPOCH))
    batch = {
        "image": paired_split.images[:32],
        "text": paired_split.texts[:32],
        "labels": paired_split.labels[:32],
    }
    with pytest.raises(ValueError, match="use_ema"):
        cmgan.fit(
            tf.data.Dataset.from_tensors(batch),
            epochs=1,
            verbose=0,
            callbacks=[GeneratorWeightAveraging()],
        )
