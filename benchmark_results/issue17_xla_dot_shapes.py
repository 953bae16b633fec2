"""Issue 17 probe: the paper-size step's matrix products, with and without XLA.

Times, in a process of its own, a chain with the shapes of the `reference`
generator's largest layers at batch 64 (4096 -> 1024 -> 1024 -> 4096 forward,
then the weight and input gradients of each layer: 18 GFLOP per call), as one
`tf.function`, compiled with XLA or run op by op on TensorFlow's oneDNN
kernels. `XLA_FLAGS` picks XLA:CPU's back end for the products, e.g.
`--xla_cpu_experimental_onednn_custom_call=true`.

Prints one JSON line: whether XLA compiled it, `XLA_FLAGS`, the median
milliseconds per call over 7 repeats of 20 calls, and the GFLOP/s. Run the
modes alternately on an idle machine, e.g.
    for flags in "" --xla_cpu_use_xnnpack=true; do
      python benchmark_results/issue17_xla_dot_shapes.py nojit
      XLA_FLAGS=$flags python benchmark_results/issue17_xla_dot_shapes.py xla
    done
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

BATCH = 64
LAYERS = [(4096, 1024), (1024, 1024), (1024, 4096)]


def main(mode):
    """Times the chain in `mode` (`xla` or `nojit`) and prints its JSON line."""
    rng = np.random.default_rng(0)
    inputs = tf.constant(rng.standard_normal((BATCH, 4096)), tf.float32)
    kernels = [
        tf.Variable(rng.standard_normal(shape) * 0.01, dtype=tf.float32)
        for shape in LAYERS
    ]

    @tf.function(jit_compile=mode == "xla")
    def forward_and_gradients(x):
        activations = [x]
        for kernel in kernels:
            activations.append(tf.nn.relu(activations[-1] @ kernel))
        upstream = activations[-1] - x
        total = 0.0
        for kernel, activation in reversed(
            list(zip(kernels, activations[:-1], strict=True))
        ):
            total += tf.reduce_sum(tf.matmul(activation, upstream, transpose_a=True))
            upstream = tf.matmul(upstream, kernel, transpose_b=True)
        return total

    flops = 3 * sum(2 * BATCH * a * b for a, b in LAYERS)
    for _ in range(5):
        forward_and_gradients(inputs).numpy()
    seconds = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(20):
            result = forward_and_gradients(inputs)
        result.numpy()
        seconds.append((time.perf_counter() - start) / 20)
    median = float(np.median(seconds))
    print(
        json.dumps(
            {
                "xla": mode == "xla",
                "xla_flags": os.environ.get("XLA_FLAGS", ""),
                "ms": round(median * 1e3, 2),
                "gflop_per_s": round(flops / median / 1e9, 1),
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("xla", "nojit"):
        sys.exit(f"usage: {sys.argv[0]} xla|nojit")
    main(sys.argv[1])
