"""`FusedAdam` updates as Keras' Adam does, wherever the trainer uses it."""

import keras
import numpy as np
import tensorflow as tf

from cmgan_tf.config import TrainingConfig
from cmgan_tf.training.builder import build_optimizers
from cmgan_tf.training.distribution import make_strategy
from cmgan_tf.training.optimizers import FusedAdam

SHAPES = [(7, 5), (5,), (3, 4)]

# The fused kernel rounds differently: after a few steps of rate 0.1 weights
# of order 1 differ by up to 2e-6, against updates of order 0.1.


def _variables(seed=0):
    rng = np.random.default_rng(seed)
    return [keras.Variable(rng.normal(size=s).astype("float32")) for s in SHAPES]


def _gradients(step):
    rng = np.random.default_rng(100 + step)
    return [tf.constant(rng.normal(size=s).astype("float32")) for s in SHAPES]


def _train(optimizer_class, steps=4, jit_compile=False, **kwargs):
    """Applies `steps` gradients; returns the weights and the optimizer."""
    variables = _variables()
    optimizer = optimizer_class(**kwargs)
    optimizer.build(variables)
    apply = tf.function(
        lambda g: optimizer.apply(g, variables), jit_compile=jit_compile
    )
    for step in range(steps):
        apply(_gradients(step))
    return [v.numpy() for v in variables], optimizer


def _assert_same_training(**kwargs):
    expected, adam = _train(keras.optimizers.Adam, **kwargs)
    actual, fused = _train(FusedAdam, **kwargs)
    for a, b in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    for a, b in zip(fused.variables, adam.variables, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)
    # It moved the weights at all: the comparison is not of two no-ops.
    assert not np.allclose(actual[0], _variables()[0].numpy())


def test_fused_adam_follows_adam():
    _assert_same_training(learning_rate=0.1, beta_1=0.5)


def test_fused_adam_follows_adam_with_every_option_the_trainer_sets():
    schedule = keras.optimizers.schedules.ExponentialDecay(
        0.1, decay_steps=2, decay_rate=0.5, staircase=True
    )
    _assert_same_training(
        learning_rate=schedule,
        beta_1=0.5,
        global_clipnorm=1.0,
        weight_decay=0.01,
        use_ema=True,
        ema_momentum=0.9,
    )


def test_amsgrad_runs_adams_own_update():
    _assert_same_training(learning_rate=0.1, amsgrad=True)


def test_sparse_gradients_update_densely_as_adams_do():
    def train(optimizer_class):
        table = keras.Variable(np.ones((6, 3), "float32"))
        optimizer = optimizer_class(learning_rate=0.1)
        optimizer.build([table])
        gradient = tf.IndexedSlices(
            tf.constant([[1.0, 2.0, 3.0]]), tf.constant([2]), tf.constant([6, 3])
        )
        for _ in range(2):
            optimizer.apply([gradient], [table])
        return table.numpy()

    expected = train(keras.optimizers.Adam)
    np.testing.assert_allclose(train(FusedAdam), expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(expected[2], 1.0)


def test_loss_scaled_fused_adam_follows_loss_scaled_adam():
    def train(optimizer_class):
        variables = _variables()
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer_class(0.1))
        optimizer.build(variables)
        scale = optimizer.dynamic_scale.numpy()
        for step in range(3):
            gradients = [g * scale for g in _gradients(step)]
            if step == 1:  # An overflowed step is skipped.
                gradients[0] = gradients[0] * np.inf
            optimizer.apply(gradients, variables)
        return [v.numpy() for v in variables]

    for a, b in zip(train(FusedAdam), train(keras.optimizers.Adam), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_replicas_update_their_own_copies_under_mirrored():
    strategy = make_strategy("mirrored")

    def train(optimizer_class):
        with strategy.scope():
            variables = _variables()
            optimizer = optimizer_class(learning_rate=0.1, use_ema=True)
            optimizer.build(variables)

        @tf.function
        def step(gradients):
            def replica_step():
                context = tf.distribute.get_replica_context()
                share = tf.cast(context.replica_id_in_sync_group + 1, tf.float32)
                optimizer.apply([g * share for g in gradients], variables)

            strategy.run(replica_step)

        for i in range(3):
            step(_gradients(i))
        return [[component.numpy() for component in v.value.values] for v in variables]

    for fused, adam in zip(train(FusedAdam), train(keras.optimizers.Adam), strict=True):
        for copy in fused:  # Both replicas' copies hold the summed update.
            np.testing.assert_allclose(copy, fused[0])
        np.testing.assert_allclose(fused[0], adam[0], rtol=1e-5, atol=1e-5)


def test_adam_checkpoints_restore_into_fused_adam(tmp_path):
    variables = _variables()
    adam = keras.optimizers.Adam(0.1)
    adam.build(variables)
    adam.apply(_gradients(0), variables)
    path = tf.train.Checkpoint(optimizer=adam).write(str(tmp_path / "ckpt"))

    fused = FusedAdam(0.1)
    fused.build(_variables(seed=1))
    tf.train.Checkpoint(optimizer=fused).read(path).assert_consumed()
    for a, b in zip(fused.variables, adam.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_fused_adam_saves_and_loads_by_its_config():
    optimizer = FusedAdam(learning_rate=0.02, beta_1=0.5, use_ema=True)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, FusedAdam)
    assert restored.get_config() == optimizer.get_config()


def test_the_trainer_s_optimizers_are_fused_adam():
    mixed = TrainingConfig(mixed_precision="mixed_float16")
    for training in (TrainingConfig(), mixed):
        for optimizer in build_optimizers(training, steps_per_epoch=10):
            assert isinstance(
                getattr(optimizer, "inner_optimizer", optimizer), FusedAdam
            )


def test_fused_adam_compiled_with_xla_follows_adam():
    # As in the whole training step that XLA compiles on one device.
    _assert_same_training(learning_rate=0.1, use_ema=True, jit_compile=True)
