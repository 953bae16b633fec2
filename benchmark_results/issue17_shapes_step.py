"""Issue 17: the `shapes` preset's step, compiled whole or per replica.

Trains the `shapes` preset (raw pixels and captions) for three epochs on one
device with XLA and prints the seconds to the end of the first step (tracing
and compiling) and the median and range of the later steps' times (the
second and third epochs, each epoch's first step left out: it follows the
validation pass). `whole` is what `CMGAN.compile` does on one device; `per_replica`
forces what it does under a distribution strategy (and did with raw-input
trunks before `DenseGradientEmbedding`). Run each mode in a process of its
own on an idle machine, alternating:

    for i in 1 2 3; do for m in whole per_replica; do
      python benchmark_results/issue17_shapes_step.py $m; done; done
"""

import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from cmgan_tf import presets  # noqa: E402
from cmgan_tf.runs import trainer  # noqa: E402
from cmgan_tf.training import keras_compat  # noqa: E402


class _StepClock(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.ends = []

    def on_epoch_begin(self, epoch, logs=None):
        self.ends.append([])

    def on_train_batch_end(self, batch, logs=None):
        self.ends[-1].append(time.perf_counter())


def main(mode):
    """Trains three epochs in `mode` and prints the step times."""
    if mode == "per_replica":
        keras_compat.xla_compilation = lambda jit_compile: (False, bool(jit_compile))
    elif mode != "whole":
        raise SystemExit(f"mode must be whole or per_replica, not {mode!r}")
    clock = _StepClock()
    fit = keras.Model.fit
    keras.Model.fit = lambda model, *args, callbacks=(), **kwargs: fit(
        model, *args, callbacks=[clock, *callbacks], **kwargs
    )
    with tempfile.TemporaryDirectory() as model_dir:
        trainer.train(
            presets.preset("shapes").replace(
                training={"epochs": 3},
                runtime={"model_dir": model_dir, "verbose": 0},
            )
        )
    steps = [
        (later - earlier) * 1000
        for epoch in clock.ends[1:]
        for earlier, later in zip(epoch, epoch[1:], strict=False)
    ]
    print(
        f"{mode}: first step {clock.ends[0][0] - clock.start:.1f} s, later steps "
        f"{statistics.median(steps):.0f} ms ({min(steps):.0f}–{max(steps):.0f}), "
        f"{len(steps)} steps, load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main(sys.argv[1])
