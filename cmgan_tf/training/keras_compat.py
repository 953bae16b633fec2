"""Work-arounds for Keras 3.15 / TensorFlow 2.21 internals, in one place.

`CMGAN` trains two players with their own optimizers under any
`tf.distribute` strategy and with XLA, which walks off Keras' own `fit` path
in a few places where Keras 3.15 fails or quietly does something else. Each
work-around here says what Keras does, why that breaks a `CMGAN`, and when it
can be deleted. `tests/test_keras_compat.py` holds, for each, a test that the
plain Keras path still fails (after a Keras upgrade that fixes it, that test
fails with "work-around ... can be removed") and a test of the work-around.

Not work-arounds, and so not here: `GeneratorWeightAveraging` (Keras'
`SwapEMAWeights` serves `model.optimizer` only, and a `CMGAN` has two),
`BestWeights` (Keras' `ModelCheckpoint` writes in place, not atomically) and
the averaging of validation scores over workers: each is a feature Keras does
not have, not a fix of one it has.
"""

import keras
import tensorflow as tf


class SkipSymbolicBuildWhenBuilt:
    """Mixin for a `keras.Model` that skips Keras' symbolic build once built.

    Keras 3.15's TensorFlow trainer starts `fit` with `_maybe_symbolic_build`,
    which under a strategy averages the first input batch over replicas with
    `strategy.reduce(MEAN, batch, axis=None)` before checking whether
    anything is left to build. Under `MultiWorkerMirroredStrategy` with
    several workers that reduce rejects a dict of per-replica tensors
    ("Attempt to convert a value ({'image': PerReplica...}) ... to a Tensor",
    keras-team/keras#20329), so `fit` fails before its first step. A built
    `CMGAN` has nothing left to build: its `build` creates every variable and
    its `compile` adds no Keras loss, metric or `optimizer`.

    Delete when: `test_symbolic_build_still_fails_under_multi_worker` fails,
    i.e. Keras builds (or skips) without that reduce.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if not self.built:
            super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def reducible_step_outputs(logs):
    """Returns a `train_step`'s logs in a shape Keras can reduce over workers.

    Under `MultiWorkerMirroredStrategy` with several workers, Keras 3.15
    averages each step output over replicas with `strategy.reduce(MEAN,
    value, axis=0)` (`reduce_per_replica` in its TensorFlow trainer), which
    fails on a scalar ("Invalid reduction dimension 0 for input with 0
    dimensions", tensorflow/tensorflow#72388, keras-team/keras#20585). A
    length-1 axis gives the reduce one to reduce. The epoch
    logs Keras passes to callbacks are read from the metrics themselves and
    stay scalars.

    Delete when: `test_scalar_step_outputs_still_fail_under_multi_worker`
    fails.

    Args:
        logs: Dict from names to scalar tensors.

    Returns:
        `logs`, with each value of shape `(1,)` under
        `MultiWorkerMirroredStrategy` and unchanged under other strategies.
    """
    strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return logs
    return {name: tf.reshape(value, (1,)) for name, value in logs.items()}


def build_optimizer(optimizer, variables):
    """Creates an optimizer's slot variables now, if it has none yet.

    Keras optimizers create their slots on the first `apply` when not built.
    `CMGAN` applies gradients inside `strategy.run` within Keras' traced train
    function; slots created there under `MirroredStrategy` are lifted out of
    the graph as placeholders nobody feeds ("You must feed a value for
    placeholder tensor 'cond/else/_1/cond/Placeholder_1'"). Called under the
    strategy's scope, as `compile` and `build` are, the slots are ordinary
    mirrored variables. Keras' own `fit` avoids this by building
    `model.optimizer` in `_symbolic_build`, which knows nothing of a second
    optimizer.

    Delete when: `test_lazily_built_optimizer_still_fails_under_mirrored`
    fails.

    Args:
        optimizer: A `keras.optimizers.Optimizer`, or `None` (nothing to do).
        variables: The trainable variables it will update.
    """
    if optimizer is not None and not optimizer.built:
        optimizer.build(variables)


def xla_compilation(jit_compile):
    """Returns `(whole_step, per_replica)`: what of a step XLA compiles.

    Keras' `compile(jit_compile=True)` compiles the whole `train_step` on each
    replica, including the optimizer's cross-replica reduction and update of
    mirrored variables, which fails under `MirroredStrategy` in Keras 3.15
    with "Trying to access resource ... located in device CPU:1 from device
    CPU:0" (see TensorFlow's XLA known issues, "tf.Variable on a different
    device"). Under a distribution strategy, therefore, only each replica's
    forward pass, losses and gradients are compiled (`compile_replica_function`)
    and the update is applied outside. With one device and no strategy,
    Keras' own whole-step compilation works and is the faster of the two:
    both players' updates, the optimizer steps and the metrics become one XLA
    computation instead of one per update plus the ops between them (on the
    2-core CPU, the `wikipedia` preset's step 4.8–4.9 ms against 6.0–6.1 ms,
    the paper-size step 225–238 ms against 243–248 ms, alternated twice).
    Raw-input trunks compile whole too, since the word CNN's lookup has a
    dense gradient (`DenseGradientEmbedding` says why it must).

    Delete when: `test_keras_xla_still_fails_under_mirrored` fails; then
    `jit_compile` can always be forwarded to Keras.

    Args:
        jit_compile: Whether the step is to be compiled with XLA.

    Returns:
        `(whole_step, per_replica)`: whether to pass `jit_compile=True` to
        `keras.Model.compile`, and whether to compile the per-replica
        function with XLA; at most one is true.
    """
    whole_step = bool(jit_compile) and not tf.distribute.has_strategy()
    return whole_step, bool(jit_compile) and not whole_step


def compile_replica_function(function, jit_compile):
    """Returns `function` compiled per replica, with XLA if `jit_compile`.

    See `xla_compilation` for when the step is compiled per replica rather
    than whole.

    Delete when: `xla_compilation` goes.

    Args:
        function: The per-replica computation; Python arguments (e.g. a
            player's name) make one trace each.
        jit_compile: Whether to compile with XLA.

    Returns:
        A `tf.function`.
    """
    return tf.function(function, jit_compile=jit_compile)


def stateless_call(function, variables, values, *, returning):
    """Calls `function()` with `variables` reading `values`; returns new state.

    Keras layers assign their state as they run: batch-norm statistics and
    the dropout `SeedGenerator`s' states. Under `MirroredStrategy` Keras'
    batch-norm statistics are per-replica copies (see `assign_replica_mean`),
    so each replica's assignment must be averaged over replicas first, which
    needs the new values rather than the assignments. Under
    `keras.StatelessScope` the layers read the given values instead of their
    variables and record their updates instead of assigning them; the caller
    assigns them with `assign_replica_mean`.

    Delete when: `test_batch_norm_copies_still_drift_under_mirrored` fails,
    together with `assign_replica_mean`.

    Args:
        function: Callable of no arguments.
        variables: Every variable `function` reads.
        values: Their values, tensors in the same order.
        returning: Those of `variables` whose new values are returned.

    Returns:
        `(outputs, new_values)`: what `function` returned, and the value of
        each of `returning` after it (its given value if left unchanged).
    """
    mapping = list(zip(variables, values, strict=True))
    given = {id(variable): value for variable, value in mapping}
    with keras.StatelessScope(state_mapping=mapping) as scope:
        outputs = function()
    new_values = []
    for variable in returning:
        value = scope.get_current_value(variable)
        new_values.append(given[id(variable)] if value is None else value)
    return outputs, new_values


def assign_replica_mean(variables, values):
    """Assigns `values`, averaging floating-point ones over replicas first.

    Keras creates batch-norm statistics with `aggregation="none"`: under
    `MirroredStrategy` each replica then updates only its own copy, with
    statistics of its own share of the batch, and the copies drift apart (a
    checkpoint saves one of them). Averaging keeps the mirrored copies equal.
    Integer state (dropout seeds) advances identically on every replica and is
    assigned as it is.

    Delete when: `test_batch_norm_copies_still_drift_under_mirrored` fails,
    together with `stateless_call`.

    Args:
        variables: Variables to assign, in a replica context.
        values: Their new values on this replica.
    """
    context = tf.distribute.get_replica_context()
    for variable, value in zip(variables, values, strict=True):
        if context.num_replicas_in_sync > 1 and value.dtype.is_floating:
            value = context.all_reduce(tf.distribute.ReduceOp.MEAN, value)
        variable.assign(value)


def scale_loss_for_replicas(loss):
    """Divides a replica's loss by the number of replicas in sync.

    The optimizer sums the replicas' gradients, so each replica's loss must be
    its share of the global mean. Keras does this inside `keras.losses.Loss`
    reductions (its private `scale_loss_for_distribution`); `CMGAN`'s losses
    are plain functions of logits, so it is done here. Keras 3's
    `optimizer.scale_loss` is not a substitute: it multiplies by the
    optimizer's `loss_scale_factor` (mixed-precision loss scaling) and never
    divides by the replica count, so under `MirroredStrategy` on 2 replicas
    its gradients are twice the single-device ones.

    Delete when: `test_optimizer_scale_loss_still_ignores_replicas` fails,
    i.e. `optimizer.scale_loss` scales for the replicas; then call it instead.

    Args:
        loss: Scalar loss of this replica's share of the batch.

    Returns:
        `loss / num_replicas_in_sync`.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas


def clip_across_replicas(gradients, clip_norm, loss_scale=None):
    """Sums the replicas' gradients and clips the sum by its global norm.

    Keras' `global_clipnorm` clips what each replica passes to `apply`, before
    the replicas' shares are summed: under `MirroredStrategy` it bounds each
    share, not the batch's gradient. Here the shares are summed first, the sum
    is clipped as one device would clip it, and each replica passes an equal
    share of the result; the optimizer's own clipping then finds the norm
    within bounds and leaves it.

    `LossScaleOptimizer.apply` decides whether to skip a step from the
    gradients the first replica passes, assuming they were summed over
    replicas already (they are not, in Keras' own `train_step`): a non-finite
    share on another replica would be applied. With a loss scale the shares
    are therefore summed even without clipping, so that every replica passes
    the same gradients and the same verdict holds for all.

    Delete when: `test_keras_global_clipnorm_still_clips_per_replica` and
    `test_loss_scale_optimizer_still_trusts_the_first_replica` fail.

    Args:
        gradients: Per-replica gradient tensors.
        clip_norm: The optimizer's `global_clipnorm`, or `None`.
        loss_scale: The scale the gradients are multiplied by, or `None`;
            the clipping bound is scaled with them.

    Returns:
        The gradients to pass to `optimizer.apply`.
    """
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync
    if replicas == 1 or not (clip_norm or loss_scale is not None):
        return list(gradients)
    total = context.all_reduce(tf.distribute.ReduceOp.SUM, list(gradients))
    if clip_norm:
        bound = clip_norm if loss_scale is None else clip_norm * loss_scale
        total, _ = tf.clip_by_global_norm(total, bound)
    return [g / replicas for g in total]


def checkpoint_variables(model):
    """Returns every variable of `model`, for `tf.train.Checkpoint`.

    Keras 3 layers are tracked by TensorFlow's object graph only in part: a
    `tf.train.Checkpoint(model=model)` leaves out the state of the layers'
    `keras.random.SeedGenerator`s (dropout masks), so a resumed run would draw
    other masks than the run it continues. Listing `model.variables`
    explicitly saves all of them; their order is fixed by the model's
    structure.

    Delete when: `test_object_graph_still_misses_seed_states` fails; then
    `tf.train.Checkpoint(model=model)` would do, though switching changes the
    checkpoint's keys and old runs would no longer resume.

    Args:
        model: A built `keras.Model`.

    Returns:
        List of its variables.
    """
    return list(model.variables)
