"""Issue 17 probe: how XLA:CPU fuses one Adam update of the paper-size generator.

Compiled with XLA, Keras' Adam update of a variable becomes three loops: one
for each moment and one for the variable, which reads both new moments back
(10 passes over memory of the variable's size, against 7 for TensorFlow's
fused `ResourceApplyAdam`). XLA:CPU merges loops into one with several outputs
only when its backend option `xla_cpu_use_multi_output_fusion` is set, and
only if the variable's update does not read the moments' outputs. Modes:

- `keras`: Keras' Adam rule (`assign_add` on each moment, then the variable);
- `one_loop`: the same rule with the variable's update written from the old
  moments, so that with the option set all three outputs can come from one
  loop.

Times 5 repeats of 20 updates of 12.9M float32 parameters (the shapes of a
4096/300-d `reference` generator's largest layers) in one XLA computation and
prints one JSON line with the milliseconds per update, sorted. Compare on an
idle machine, each mode in a process of its own, alternated, e.g.

    FLAG=--xla_backend_extra_options=xla_cpu_use_multi_output_fusion
    for i in 1 2 3; do
      python benchmark_results/issue17_adam_fusion.py keras
      XLA_FLAGS=$FLAG python benchmark_results/issue17_adam_fusion.py one_loop
    done

`XLA_FLAGS=--xla_dump_to=DIR --xla_dump_hlo_as_text` shows the fusions.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# Run as a script, this folder is on the path: the same shapes and timing as
# the update probe.
from issue17_adam_update import SHAPES, milliseconds_per_update  # noqa: E402

BETA_1, BETA_2, EPSILON, LEARNING_RATE = 0.9, 0.999, 1e-7, 1e-3


def _update(mode, variables, momentums, velocities, step):
    @tf.function(jit_compile=True)
    def update(gradients):
        step.assign_add(1.0)
        alpha = (
            LEARNING_RATE
            * tf.sqrt(1 - tf.pow(BETA_2, step))
            / (1 - tf.pow(BETA_1, step))
        )
        for variable, m, v, g in zip(
            variables, momentums, velocities, gradients, strict=True
        ):
            if mode == "keras":
                m.assign_add((g - m) * (1 - BETA_1))
                v.assign_add((tf.square(g) - v) * (1 - BETA_2))
                variable.assign_sub(m * alpha / (tf.sqrt(v) + EPSILON))
                continue
            old_m, old_v = m.read_value(), v.read_value()
            m.assign(old_m + (g - old_m) * (1 - BETA_1))
            v.assign(old_v + (tf.square(g) - old_v) * (1 - BETA_2))
            # The same moments again, written differently so that common
            # subexpression elimination does not make this read the outputs.
            new_m = old_m * BETA_1 + g * (1 - BETA_1)
            new_v = old_v * BETA_2 + (g * (1 - BETA_2)) * g
            variable.assign_sub(new_m * alpha / (tf.sqrt(new_v) + EPSILON))

    return update


def main(mode):
    """Times `mode`, `"keras"` or `"one_loop"`; prints one JSON line."""
    rng = np.random.default_rng(0)
    variables = [tf.Variable(rng.normal(size=s).astype("float32")) for s in SHAPES]
    momentums = [tf.Variable(tf.zeros(s)) for s in SHAPES]
    velocities = [tf.Variable(tf.zeros(s)) for s in SHAPES]
    gradients = [tf.constant(rng.normal(size=s).astype("float32")) for s in SHAPES]
    update = _update(mode, variables, momentums, velocities, tf.Variable(0.0))
    times = milliseconds_per_update(update, gradients, variables)
    print(
        json.dumps(
            {
                "mode": mode,
                "xla_flags": os.environ.get("XLA_FLAGS", ""),
                "ms_per_update": times,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
