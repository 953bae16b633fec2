"""Issue 17 probe: whether XLA compiles the whole step once with raw-input trunks.

Prints the seconds of each of five steps of a small model with the raw-input
trunks named on the command line, its whole step compiled with XLA on one
device (as `CMGAN.compile` does there):

    python benchmark_results/issue17_raw_trunk_recompile.py image
    python benchmark_results/issue17_raw_trunk_recompile.py text
    python benchmark_results/issue17_raw_trunk_recompile.py text keras_lookup

`image`: `ConvImageTrunk` (the text side a feature trunk); `text`:
`WordCNNTextTrunk` (the image side a feature trunk); `keras_lookup` gives the
word CNN Keras' own embedding lookup instead of `DenseGradientEmbedding`'s.
Seen at 3dfe3a8 (2-core CPU, Keras' lookup then): image 0.09 s a step after
the first, text 3.3–4.0 s every step, since XLA compiled the step again each
time. With `DenseGradientEmbedding` (its lookup's gradient a segment sum over
the static vocabulary size, not `IndexedSlices` shaped in the graph), text
0.004–0.03 s after the first; `text keras_lookup` 10 s every step (machine
busy, stop 25). `XLA_FLAGS=--xla_dump_to=DIR` shows one program per step in
the second case, one in all in the first
(`tests/test_cmgan.py::test_raw_input_trunks_compile_the_whole_step_once`).
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cmgan_tf.models.autoencoder import CrossModalAutoencoder  # noqa: E402
from cmgan_tf.models.raw_trunks import (  # noqa: E402
    ConvImageTrunk,
    DenseGradientEmbedding,
    WordCNNTextTrunk,
)
from cmgan_tf.models.trunks import FeatureTrunk  # noqa: E402
from cmgan_tf.training.cmgan import CMGAN  # noqa: E402

IMAGE_SIZE, SEQUENCE, VOCABULARY, PAIRS = 32, 12, 200, 64


class _StepTimer(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        print(f"step {batch}: {time.perf_counter() - self.start:.3f} s", flush=True)


def main(options):
    """Trains five steps of the model `options` describe, printing each step's time."""
    rng = np.random.default_rng(0)
    if "keras_lookup" in options:
        DenseGradientEmbedding.call = keras.layers.Embedding.call
    if "image" in options:
        image_trunk = ConvImageTrunk(IMAGE_SIZE, filters=(16, 32), units=32)
        images = rng.integers(0, 255, (PAIRS, IMAGE_SIZE, IMAGE_SIZE, 3), "uint8")
    else:
        image_trunk = FeatureTrunk(20)
        images = rng.normal(size=(PAIRS, 20)).astype("float32")
    if "text" in options:
        text_trunk = WordCNNTextTrunk(
            VOCABULARY, SEQUENCE, embedding_dim=16, filters_per_window=8
        )
        texts = rng.integers(0, VOCABULARY, (PAIRS, SEQUENCE)).astype("int32")
    else:
        text_trunk = FeatureTrunk(10)
        texts = rng.normal(size=(PAIRS, 10)).astype("float32")
    generator = CrossModalAutoencoder(
        image_trunk,
        text_trunk,
        num_classes=4,
        encoder_units=(32,),
        common_units=(16,),
        decoder_units=(),
    )
    cmgan = CMGAN(generator, loss_weights={"semantic": 1.0})
    cmgan.build({"image": (None, *images.shape[1:]), "text": (None, *texts.shape[1:])})
    cmgan.compile(g_optimizer=keras.optimizers.Adam(), jit_compile=True)
    assert cmgan.jit_compile, "the whole step is not compiled"
    labels = np.eye(4, dtype="float32")[rng.integers(0, 4, PAIRS)]
    batches = tf.data.Dataset.from_tensor_slices(
        {"image": images, "text": texts, "labels": labels}
    )
    cmgan.fit(
        batches.batch(32).repeat(),
        steps_per_epoch=5,
        epochs=1,
        verbose=0,
        callbacks=[_StepTimer()],
    )


if __name__ == "__main__":
    main(sys.argv[1:])
