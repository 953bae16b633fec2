"""Speed of `CMGAN.train_step`: XLA on and off, one and two replicas."""

import time

import keras

from cmgan_tf.data.pipeline import training_dataset
from cmgan_tf.training.builder import build_cmgan, build_optimizers
from cmgan_tf.training.distribution import make_strategy


class _EpochTimer(keras.callbacks.Callback):
    """Records the wall time of each epoch."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def measure_training_speed(
    config, train_split, *, jit_compile, strategy, steps=20, repeats=5
):
    """Measures training steps per second on a split of feature pairs.

    Each repeat is one `fit` epoch of `steps` steps, so the figure includes
    Keras' training loop as users run it. The first epoch, which traces and
    compiles, is a warm-up and not counted.

    Args:
        config: An `ExperimentConfig` (its model, loss and training sections).
        train_split: Training pairs.
        jit_compile: Compile each player's step with XLA.
        strategy: `"default"` (one device) or `"mirrored"`.
        steps: Training steps per repeat.
        repeats: Timed repeats.

    Returns:
        Dict: `steps_per_s` and `pairs_per_s` (medians over repeats),
        `replicas`, `step_ms` (median), and the per-repeat `seconds`.
    """
    keras.utils.set_random_seed(config.training.seed)
    distribution = make_strategy(strategy)
    batches = training_dataset(
        train_split,
        config.training.batch_size,
        config.training.seed,
        num_replicas=distribution.num_replicas_in_sync,
    ).repeat()
    with distribution.scope():
        cmgan = build_cmgan(config, train_split, multi_label=False)
        d_optimizer, g_optimizer = build_optimizers(config.training, steps)
        cmgan.compile(
            d_optimizer=d_optimizer if cmgan.discriminators else None,
            g_optimizer=g_optimizer,
            generator_steps=config.training.generator_steps,
            jit_compile=jit_compile,
        )
    timer = _EpochTimer()
    cmgan.fit(
        batches,
        epochs=repeats + 1,
        steps_per_epoch=steps,
        callbacks=[timer],
        verbose=0,
    )
    seconds = sorted(timer.seconds[1:])
    median = seconds[len(seconds) // 2]
    return {
        "replicas": distribution.num_replicas_in_sync,
        "steps_per_s": steps / median,
        "pairs_per_s": steps * config.training.batch_size / median,
        "step_ms": 1000 * median / steps,
        "seconds": timer.seconds[1:],
    }
