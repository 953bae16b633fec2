"""Issue 17 probe: one Adam update of the paper-size generator, two ways.

Times, in a process of its own, one update of 12.9M float32 parameters (the
shapes of a 4096/300-d `reference` generator's largest layers):

- `keras`: `keras.optimizers.Adam.apply` inside one XLA-compiled
  `tf.function` (how the step applied it before whole-step XLA);
- `fused`: TensorFlow's fused `ResourceApplyAdam` kernel, one op per
  variable (the same update rule, on slot variables of its own).

Prints one JSON line: the mode and the milliseconds per update of each of 5
repeats of 20 updates, sorted. Run the two modes alternately on an idle
machine, e.g.
    for i in 1 2 3; do for m in keras fused; do
      python benchmark_results/issue17_adam_update.py $m; done; done
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

SHAPES = [(4096, 1024), (300, 1024)] + [(1024, 1024)] * 8 + [(1024,)] * 10


def _update(mode, variables):
    if mode == "keras":
        optimizer = keras.optimizers.Adam(1e-3)
        optimizer.build(variables)
        return tf.function(lambda g: optimizer.apply(g, variables), jit_compile=True)
    momentums = [tf.Variable(tf.zeros(v.shape)) for v in variables]
    velocities = [tf.Variable(tf.zeros(v.shape)) for v in variables]
    step = tf.Variable(0.0)

    @tf.function
    def update(gradients):
        step.assign_add(1.0)
        for variable, m, v, g in zip(
            variables, momentums, velocities, gradients, strict=True
        ):
            tf.raw_ops.ResourceApplyAdam(
                var=variable.value.handle,
                m=m.handle,
                v=v.handle,
                beta1_power=tf.pow(0.9, step),
                beta2_power=tf.pow(0.999, step),
                lr=1e-3,
                beta1=0.9,
                beta2=0.999,
                epsilon=1e-7,
                grad=g,
            )

    return update


def milliseconds_per_update(update, gradients, variables):
    """Times `update(gradients)`: 5 warm-up calls, then 5 repeats of 20.

    Returns:
        The 5 repeats' milliseconds per update, sorted.
    """
    for _ in range(5):
        update(gradients)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(20):
            update(gradients)
        variables[0].numpy()  # Waits for the last update.
        times.append((time.perf_counter() - start) / 20 * 1000)
    return sorted(times)


def main(mode):
    """Times `mode`, `"keras"` or `"fused"`; prints one JSON line."""
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=s).astype("float32")) for s in SHAPES]
    gradients = [tf.constant(rng.normal(size=s).astype("float32")) for s in SHAPES]
    times = milliseconds_per_update(_update(mode, variables), gradients, variables)
    print(json.dumps({"mode": mode, "ms_per_update": times}))


if __name__ == "__main__":
    main(sys.argv[1])
