"""Issue 17 probe: the paper-size step with Adam's update written as one loop.

`issue17_adam_fusion.py` found that XLA:CPU compiles one Adam update into a
single loop, instead of three, only when the variable's update is written
from the old moments and `XLA_FLAGS` holds
`--xla_backend_extra_options=xla_cpu_use_multi_output_fusion`. This script
times the whole training step that way: it replaces `FusedAdam.update_step`
(compiled inside the one-device XLA step) by that form and runs the
benchmark's own timing child, so its figure compares with the child's.

Usage (from the repository root), alternated with the plain child and the
child without XLA, each in a process of its own on an idle machine:

    SPEC='{"kind": "ours", "replicas": 1, "preset": "reference",
      "features": [4096, 300], "batch_size": 64, "steps": 10,
      "jit_compile": true, "repeats": 5}'
    FLAG=--xla_backend_extra_options=xla_cpu_use_multi_output_fusion
    for i in 1 2 3; do
      python -m pipelines.benchmark --training_child="$SPEC"
      XLA_FLAGS=$FLAG python benchmark_results/issue17_one_loop_step.py "$SPEC"
      python -m pipelines.benchmark --training_child="${SPEC/true/false}"
    done
"""

import sys

import tensorflow as tf
from absl import app

from cmgan_tf.training import optimizers
from pipelines import benchmark


def _one_loop_update_step(self, gradient, variable, learning_rate):
    """Adam's rule, the variable's update computed from the old moments."""
    dtype = variable.dtype
    index = self._get_variable_index(variable)
    momentum, velocity = self._momentums[index], self._velocities[index]
    step = tf.cast(self.iterations + 1, dtype)
    beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
    alpha = (
        tf.cast(learning_rate, dtype)
        * tf.sqrt(1 - tf.pow(beta_2, step))
        / (1 - tf.pow(beta_1, step))
    )
    gradient = tf.cast(tf.convert_to_tensor(gradient), dtype)
    old_m, old_v = tf.convert_to_tensor(momentum), tf.convert_to_tensor(velocity)
    momentum.assign(old_m + (gradient - old_m) * (1 - beta_1))
    velocity.assign(old_v + (tf.square(gradient) - old_v) * (1 - beta_2))
    # The same moments written again, so that the update does not read the
    # assignments' outputs (see issue17_adam_fusion.py).
    new_m = old_m * beta_1 + gradient * (1 - beta_1)
    new_v = old_v * beta_2 + (gradient * (1 - beta_2)) * gradient
    variable.assign_sub(new_m * alpha / (tf.sqrt(new_v) + self.epsilon))


if __name__ == "__main__":
    optimizers.FusedAdam.update_step = _one_loop_update_step
    sys.argv = [sys.argv[0], f"--training_child={sys.argv[1]}"]
    app.run(benchmark.main)
