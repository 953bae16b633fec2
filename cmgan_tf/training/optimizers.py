"""`FusedAdam`: Keras' Adam, updating each variable with TensorFlow's fused kernel."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="cmgan_tf")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose update is one fused kernel per variable.

    Keras 3's Adam writes its update as separate element-wise operations
    (moments, square root, division, subtraction). Where the training step is
    not compiled with XLA (under a distribution strategy, see
    `keras_compat.xla_compilation`, or with `--nojit_compile`) each of them is
    one pass over the parameters. TensorFlow's `ResourceApplyAdam` kernel,
    which Keras 2's Adam (`tf_keras`) called, does the whole update in one
    multi-threaded pass: one update of the paper-size generator's 12.9M
    parameters takes 8.2 ms with it on a 2-core CPU, against 28 ms op by op
    (and 11.0 ms for Keras' Adam compiled with XLA on its own;
    `benchmark_results/issue17_adam_update.py`).

    The update rule, the hyperparameters, the slot variables (`momentum`,
    `velocity`), the configuration and so the checkpoints are Adam's own;
    only `update_step` differs. Learning-rate schedules, weight decay,
    gradient clipping, `use_ema`, `LossScaleOptimizer` and
    `tf.distribute` strategies work as they do for Adam, since they act
    outside `update_step`. With `amsgrad=True`, which the kernel does not
    compute, Adam's own update runs.

    Compiled with XLA (the whole training step on one device), the kernel is
    lowered to the same element-wise operations as Adam's.

    Args:
        Those of `keras.optimizers.Adam`.
    """

    def update_step(self, gradient, variable, learning_rate):
        """Updates one variable (a `tf.Variable`, or a replica's component)."""
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            # Under a strategy's update each slot resolves to this replica's
            # copy, as `variable` is.
            m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            lr=tf.cast(learning_rate, dtype),
            beta1=tf.cast(self.beta_1, dtype),
            beta2=tf.cast(self.beta_2, dtype),
            epsilon=tf.cast(self.epsilon, dtype),
            # Sparse gradients (embeddings) update densely, as Adam's do.
            grad=tf.cast(tf.convert_to_tensor(gradient), dtype),
        )
