"""The training step gives the results of the step it replaced, at float32.

`REFERENCE` was recorded with the step as it was before it was compiled as
one round (commit eebddda: one compiled function per player update, the
optimizer applied after it), on the data, configuration and seed below. Any
later change to how the step runs must leave its losses and weights where
they were, within float32 round-off, under every strategy and with XLA on or
off.
"""

import keras
import numpy as np
import pytest

from cmgan_tf.data.pipeline import training_dataset
from cmgan_tf.presets import preset
from cmgan_tf.training.builder import build_cmgan, build_optimizers
from cmgan_tf.training.distribution import make_strategy
from tests.conftest import make_paired_split

STEPS = 3

# Per strategy and XLA setting (stateless random draws differ between XLA and
# TensorFlow's kernels, so the two settings draw different mismatched items):
# the running means of d_loss and g_loss that `fit` logs after each step; at
# the end, the sums of the generator's and the discriminators' float variables
# and the optimizers' iteration counts.
REFERENCE = {
    ("default", False): {
        "logs": [
            [6.517811298370361, 6.004871368408203],
            [6.276712417602539, 5.682653427124023],
            [6.313100814819336, 5.648705959320068],
        ],
        "generator_sum": 260.7131724794017,
        "discriminator_sum": 63.92084936337778,
        "iterations": [3, 6],
    },
    ("default", True): {
        "logs": [
            [6.497461318969727, 6.003973960876465],
            [6.319497108459473, 5.681075096130371],
            [6.344054698944092, 5.646827697753906],
        ],
        "generator_sum": 260.7111791570642,
        "discriminator_sum": 64.05335118074436,
        "iterations": [3, 6],
    },
    ("mirrored", False): {
        "logs": [
            [6.486947059631348, 6.373961448669434],
            [6.314700126647949, 5.83189582824707],
            [6.338242530822754, 5.693880081176758],
        ],
        "generator_sum": 259.024389048951,
        "discriminator_sum": 63.54994555996382,
        "iterations": [3, 6],
    },
    ("mirrored", True): {
        "logs": [
            [6.536550521850586, 6.373100280761719],
            [6.345738410949707, 5.830534934997559],
            [6.367830753326416, 5.6923723220825195],
        ],
        "generator_sum": 259.018925810582,
        "discriminator_sum": 63.49886844237335,
        "iterations": [3, 6],
    },
}


class _Logs(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append([float(np.ravel(logs[k])[0]) for k in ("d_loss", "g_loss")])


def _float_sum(variables):
    # Dropout seed states are integers and advance identically anyway.
    return float(
        sum(
            np.sum(v.numpy(), dtype=np.float64)
            for v in variables
            if v.dtype == "float32"
        )
    )


def train_and_record(strategy, jit_compile):
    """Trains the smoke configuration `STEPS` steps; returns what it records."""
    config = preset("smoke").replace(training={"batch_size": 16})
    split = make_paired_split(96)
    keras.utils.set_random_seed(config.training.seed)
    distribution = make_strategy(strategy)
    batches = training_dataset(
        split,
        config.training.batch_size,
        config.training.seed,
        num_replicas=distribution.num_replicas_in_sync,
    )
    with distribution.scope():
        cmgan = build_cmgan(config, split, multi_label=False)
        d_optimizer, g_optimizer = build_optimizers(config.training, STEPS)
        cmgan.compile(
            d_optimizer,
            g_optimizer,
            generator_steps=config.training.generator_steps,
            jit_compile=jit_compile,
        )
    logs = _Logs()
    cmgan.fit(batches, epochs=1, steps_per_epoch=STEPS, callbacks=[logs], verbose=0)
    return {
        "logs": logs.logs,
        "generator_sum": _float_sum(cmgan.generator.variables),
        "discriminator_sum": _float_sum(
            [v for d in cmgan.discriminators for v in d.variables]
        ),
        "iterations": [
            int(d_optimizer.iterations.numpy()),
            int(g_optimizer.iterations.numpy()),
        ],
    }


@pytest.mark.parametrize(
    "strategy", ["default", pytest.param("mirrored", marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("jit_compile", [False, True])
def test_step_matches_the_reference_step(strategy, jit_compile):
    recorded = train_and_record(strategy, jit_compile)
    reference = REFERENCE[strategy, jit_compile]
    assert recorded["iterations"] == reference["iterations"]
    np.testing.assert_allclose(recorded["logs"], reference["logs"], rtol=1e-4)
    for key in ("generator_sum", "discriminator_sum"):
        np.testing.assert_allclose(recorded[key], reference[key], rtol=1e-4, atol=1e-3)
