"""Each Keras work-around in `keras_compat`: still needed, and working.

A `..._still_...` test runs the plain Keras path and asserts that it still
fails or misbehaves in the installed Keras. When an upgrade fixes Keras, that
test fails and names the work-around that can be removed.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.training import keras_compat
from cmgan_tf.training.distribution import make_strategy
from tests.test_multi_worker import REPO_ROOT, _free_ports, _wait

REMOVABLE = "Keras no longer needs it: work-around `{}` can be removed."


def _error_of(function):
    """Returns the exception `function()` raises, or `None`."""
    try:
        function()
    except Exception as error:  # Which type Keras raises is not the point.
        return error
    return None


@pytest.fixture
def mirrored():
    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    return strategy


def _per_replica(strategy, function):
    """Runs `function(replica_id)` on every replica; returns NumPy results."""

    @tf.function
    def run():
        return strategy.run(
            lambda: function(
                tf.distribute.get_replica_context().replica_id_in_sync_group
            )
        )

    return [np.asarray(v) for v in strategy.experimental_local_results(run())]


# Multi-worker: one cluster of two worker processes tries Keras' `fit` on a
# built dict-input model three ways; the first failure of each is recorded.
_WORKER_SCRIPT = textwrap.dedent(
    """
    import json
    import keras
    import tensorflow as tf
    from cmgan_tf.training import keras_compat

    strategy = tf.distribute.MultiWorkerMirroredStrategy()

    class Plain(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(1)

        def build(self, input_shape):
            self.dense.build(input_shape["x"])

        def call(self, inputs):
            return self.dense(inputs["x"])

        def train_step(self, batch):
            return {"loss": keras.ops.mean(self(batch))}

    class SkipsBuild(keras_compat.SkipSymbolicBuildWhenBuilt, Plain):
        pass

    class BothWorkarounds(SkipsBuild):
        def train_step(self, batch):
            return keras_compat.reducible_step_outputs(super().train_step(batch))

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
    )
    data = tf.data.Dataset.from_tensors({"x": tf.ones((4, 2))}).repeat(2)
    results = {}
    for model_class in (Plain, SkipsBuild, BothWorkarounds):
        with strategy.scope():
            model = model_class()
            model.build({"x": (None, 2)})
            model.compile()
        try:
            model.fit(data.with_options(options), epochs=1, verbose=0)
            results[model_class.__name__] = "ok"
        except Exception as error:
            results[model_class.__name__] = f"{type(error).__name__}: {error}"
    print("RESULTS", json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def multi_worker_fit(tmp_path_factory):
    """`{model class: "ok" or its error}` of `fit` on a two-worker cluster."""
    root = tmp_path_factory.mktemp("keras_compat_workers")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = []
    for index in range(2):
        task = {"type": "worker", "index": index}
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": task}),
        }
        log_path = root / f"worker{index}.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_SCRIPT],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        workers.append((process, log_path))
    results = [
        json.loads(line.removeprefix("RESULTS "))
        for log in _wait(workers)
        for line in log.splitlines()
        if line.startswith("RESULTS ")
    ]
    assert len(results) == 2 and results[0].keys() == results[1].keys(), results
    return results[0]


@pytest.mark.slow
def test_symbolic_build_still_fails_under_multi_worker(multi_worker_fit):
    result = multi_worker_fit["Plain"]
    assert result != "ok", REMOVABLE.format("SkipSymbolicBuildWhenBuilt")
    assert "PerReplica" in result and "to a Tensor" in result, result


@pytest.mark.slow
def test_scalar_step_outputs_still_fail_under_multi_worker(multi_worker_fit):
    # Past the symbolic build, a scalar step output is what fails next.
    result = multi_worker_fit["SkipsBuild"]
    assert result != "ok", REMOVABLE.format("reducible_step_outputs")
    assert "Invalid reduction dimension 0" in result, result


@pytest.mark.slow
def test_both_multi_worker_workarounds_let_fit_train(multi_worker_fit):
    assert multi_worker_fit["BothWorkarounds"] == "ok"


def test_step_outputs_stay_scalars_outside_multi_worker(mirrored):
    logs = {"loss": tf.constant(1.5)}
    assert keras_compat.reducible_step_outputs(logs) is logs
    with mirrored.scope():
        assert keras_compat.reducible_step_outputs(logs) is logs


def _mirrored_variable(strategy, value):
    with strategy.scope():
        return keras.Variable(np.asarray(value, "float32"))


def test_lazily_built_optimizer_still_fails_under_mirrored(mirrored):
    variable = _mirrored_variable(mirrored, [0.0, 0.0])
    with mirrored.scope():
        optimizer = keras.optimizers.Adam(0.1)
    error = _error_of(
        lambda: _per_replica(
            mirrored, lambda _: optimizer.apply([tf.ones(2)], [variable])
        )
    )
    assert error is not None, REMOVABLE.format("build_optimizer")
    assert "You must feed a value for placeholder tensor" in str(error)


def test_optimizer_built_under_the_scope_applies_under_mirrored(mirrored):
    variable = _mirrored_variable(mirrored, [0.0, 0.0])
    with mirrored.scope():
        optimizer = keras.optimizers.Adam(0.5)
        keras_compat.build_optimizer(optimizer, [variable])
    keras_compat.build_optimizer(None, [variable])  # No optimizer: nothing to do.

    def apply(_):
        optimizer.apply([tf.ones(2)], [variable])
        return variable.value

    # Adam's first step moves each weight by the learning rate.
    for value in _per_replica(mirrored, apply):
        np.testing.assert_allclose(value, [-0.5, -0.5], rtol=1e-5)


def _features(batch=8):
    return np.random.default_rng(0).normal(size=(batch, 4)).astype("float32")


def test_keras_xla_still_fails_under_mirrored(mirrored):
    with mirrored.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse", jit_compile=True)
    error = _error_of(
        lambda: model.fit(_features(), np.ones((8, 1)), batch_size=8, verbose=0)
    )
    assert error is not None, REMOVABLE.format("xla_compilation")
    assert "Trying to access resource" in str(error)


class _XlaForward(keras.Model):
    """Runs a batch-norm network's forward pass per replica with XLA, as `CMGAN`.

    The compiled function goes through `stateless_call`; the step assigns the
    new statistics with `assign_replica_mean`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.network = keras.Sequential(
            [keras.layers.Dense(3), keras.layers.BatchNormalization()]
        )
        self.forward = keras_compat.compile_replica_function(
            self.stateless_forward, jit_compile=True
        )

    def build(self, input_shape):
        self.network.build(input_shape)

    def stateless_forward(self, values, inputs):
        return keras_compat.stateless_call(
            lambda: self.network(inputs, training=True),
            self.network.variables,
            values,
            returning=self.network.non_trainable_variables,
        )

    def train_step(self, batch):
        values = [tf.convert_to_tensor(v.value) for v in self.network.variables]
        outputs, new_values = self.forward(values, batch)
        keras_compat.assign_replica_mean(
            self.network.non_trainable_variables, new_values
        )
        return {"mean": keras.ops.mean(outputs)}


def test_stateless_xla_forward_keeps_batch_norm_copies_equal(mirrored):
    with mirrored.scope():
        model = _XlaForward()
        model.build((None, 4))
        model.compile(jit_compile=False)
    initial = [v.numpy() for v in model.network.variables]
    features = _features()
    # One batch of 8: each replica gets a different half.
    model.fit(tf.data.Dataset.from_tensors(features), verbose=0)

    # What one device computes for each half of the batch, from the start.
    halves = [
        model.stateless_forward(initial, half)[1]
        for half in (features[:4], features[4:])
    ]
    statistics = model.network.non_trainable_variables
    for index, variable in enumerate(statistics):
        copies = [v.numpy() for v in variable.value.values]
        np.testing.assert_allclose(copies[0], copies[1])
        mean = np.mean([new_values[index] for new_values in halves], axis=0)
        np.testing.assert_allclose(copies[0], mean, rtol=1e-5)


def _batch_norm_model(strategy):
    with strategy.scope():
        model = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(3),
                keras.layers.BatchNormalization(),
            ]
        )
    return model


def test_batch_norm_copies_still_drift_under_mirrored(mirrored):
    model = _batch_norm_model(mirrored)
    with mirrored.scope():
        model.compile("sgd", "mse")
    # Two different halves of one batch: one per replica.
    model.fit(_features(), np.ones((8, 3)), batch_size=8, shuffle=False, verbose=0)
    copies = [
        [v.numpy() for v in w.value.values] for w in model.non_trainable_variables
    ]
    assert any(not np.allclose(a, b) for a, b in copies), REMOVABLE.format(
        "assign_replica_mean"
    )


def test_optimizer_scale_loss_still_ignores_replicas(mirrored):
    with mirrored.scope():
        optimizer = keras.optimizers.Adam()
    # On one replica the two agree: neither scales.
    loss = tf.constant(6.0)
    assert float(optimizer.scale_loss(loss)) == 6.0
    assert float(keras_compat.scale_loss_for_replicas(loss)) == 6.0
    scaled = _per_replica(mirrored, lambda _: optimizer.scale_loss(tf.constant(6.0)))
    assert scaled != [3.0, 3.0], REMOVABLE.format("scale_loss_for_replicas")
    assert scaled == [6.0, 6.0]


@pytest.mark.parametrize("scale", ["keras_compat", "optimizer.scale_loss"])
def test_replica_gradients_sum_to_the_single_device_gradient(mirrored, scale):
    features = tf.constant(_features())
    kernel = tf.constant(np.linspace(-1.0, 1.0, 4, dtype="float32")[:, None])
    optimizer = keras.optimizers.Adam()
    scale_loss = (
        keras_compat.scale_loss_for_replicas
        if scale == "keras_compat"
        else optimizer.scale_loss
    )

    def gradient(inputs):
        with tf.GradientTape() as tape:
            tape.watch(kernel)
            loss = tf.reduce_mean(tf.square(inputs @ kernel - 1.0))
            scaled = scale_loss(loss)
        return tape.gradient(scaled, kernel)

    single_device = gradient(features).numpy()

    def replica_share(replica):
        return gradient(features[4 * replica : 4 * replica + 4])

    summed = sum(_per_replica(mirrored, replica_share))
    # The optimizer sums what the replicas pass to it.
    if scale == "keras_compat":
        np.testing.assert_allclose(summed, single_device, rtol=1e-6)
    else:
        np.testing.assert_allclose(summed, 2 * single_device, rtol=1e-6)


def _clipped_sgd_update(strategy, clip):
    """One SGD(1.0, global_clipnorm=1.5) step from 0 with shares [3, 4], [6, 8]."""
    variable = _mirrored_variable(strategy, [0.0, 0.0])
    with strategy.scope():
        optimizer = keras.optimizers.SGD(1.0, global_clipnorm=1.5)
        keras_compat.build_optimizer(optimizer, [variable])

    def step(replica):
        share = tf.constant([3.0, 4.0]) * tf.cast(replica + 1, tf.float32)
        if clip:
            [share] = keras_compat.clip_across_replicas([share], 1.5)
        optimizer.apply([share], [variable])
        return variable.value

    return _per_replica(strategy, step)


def test_keras_global_clipnorm_still_clips_per_replica(mirrored):
    # Each share is clipped to [0.9, 1.2] before they are summed, so the
    # step is twice the clipped batch gradient.
    updates = _clipped_sgd_update(mirrored, clip=False)
    assert not np.allclose(updates[0], [-0.9, -1.2]), REMOVABLE.format(
        "clip_across_replicas"
    )
    np.testing.assert_allclose(updates[0], [-1.8, -2.4], rtol=1e-6)


def test_clipping_across_replicas_steps_as_one_device(mirrored):
    # The batch's gradient [9, 12] has norm 15; clipped to 1.5: [0.9, 1.2].
    for value in _clipped_sgd_update(mirrored, clip=True):
        np.testing.assert_allclose(value, [-0.9, -1.2], rtol=1e-6)


def _loss_scaled_sgd_update(strategy, sum_first):
    """One SGD(1.0) step, loss scale 2, with shares [2, 2] and [inf, 2].

    Returns the variable on each replica and the scale after the step.
    """
    variable = _mirrored_variable(strategy, [0.0, 0.0])
    with strategy.scope():
        optimizer = keras.optimizers.LossScaleOptimizer(
            keras.optimizers.SGD(1.0), initial_scale=2.0
        )
        keras_compat.build_optimizer(optimizer, [variable])

    def step(replica):
        share = tf.where(
            replica == 1, tf.constant([np.inf, 2.0]), tf.constant([2.0, 2.0])
        )
        if sum_first:
            scale = tf.convert_to_tensor(optimizer.dynamic_scale.value)
            [share] = keras_compat.clip_across_replicas([share], None, scale)
        optimizer.apply([share], [variable])
        return variable.value

    values = _per_replica(strategy, step)
    return values, float(optimizer.dynamic_scale.numpy())


def test_loss_scale_optimizer_still_trusts_the_first_replica(mirrored):
    # The first replica's share is finite, so the step is applied, with the
    # other replica's infinity in the sum.
    values, scale = _loss_scaled_sgd_update(mirrored, sum_first=False)
    assert not np.isfinite(values[0]).all(), REMOVABLE.format(
        "clip_across_replicas (loss scale)"
    )
    np.testing.assert_array_equal(values[0], [-np.inf, -2.0])
    assert scale == 2.0


def test_summed_shares_skip_a_non_finite_step_on_every_replica(mirrored):
    values, scale = _loss_scaled_sgd_update(mirrored, sum_first=True)
    for value in values:
        np.testing.assert_array_equal(value, [0.0, 0.0])
    assert scale == 1.0


def test_summed_scaled_shares_are_clipped_as_the_unscaled_batch_gradient(mirrored):
    # Shares [3, 4] and [6, 8] scaled by 4: the batch gradient [9, 12], norm
    # 15, clipped to 1.5 is [0.9, 1.2], still scaled by 4.
    def step(replica):
        share = 4.0 * tf.constant([3.0, 4.0]) * tf.cast(replica + 1, tf.float32)
        [share] = keras_compat.clip_across_replicas([share], 1.5, tf.constant(4.0))
        return share

    for value in _per_replica(mirrored, step):
        np.testing.assert_allclose(value, [0.45 * 4, 0.6 * 4], rtol=1e-6)


def _dropout_model():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dropout(0.5, seed=1)]
    )
    model(_features(), training=True)  # Advances the dropout seed state.
    return model


def _seed_states(model):
    return [v.numpy() for v in model.variables if "seed" in v.path]


def test_object_graph_still_misses_seed_states(tmp_path):
    model = _dropout_model()
    assert _seed_states(model)
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    saved = [
        name for name, _ in tf.train.list_variables(path) if name.startswith("model/")
    ]
    assert len(saved) < len(model.variables), REMOVABLE.format("checkpoint_variables")


def test_checkpoint_variables_restore_seed_states(tmp_path):
    model = _dropout_model()
    checkpoint = tf.train.Checkpoint(
        model_variables=keras_compat.checkpoint_variables(model)
    )
    path = checkpoint.save(str(tmp_path / "ckpt"))
    fresh = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dropout(0.5, seed=1)]
    )
    assert not np.array_equal(_seed_states(fresh), _seed_states(model))
    tf.train.Checkpoint(
        model_variables=keras_compat.checkpoint_variables(fresh)
    ).restore(path).assert_existing_objects_matched()
    for restored, saved in zip(fresh.variables, model.variables, strict=True):
        np.testing.assert_array_equal(restored.numpy(), saved.numpy())
