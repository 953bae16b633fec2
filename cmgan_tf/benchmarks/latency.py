"""Encoding latency of the image and text encoders in each deployed form."""

import numpy as np
import tensorflow as tf

from cmgan_tf.benchmarks.timing import median_seconds
from cmgan_tf.serving.signatures import INPUT_NAMES, export_saved_model


def keras_encoder_latency(encoder, inputs, modality, *, repeats):
    """Median seconds of one `encoder.encode` call on `inputs`, eagerly traced.

    The encode function is wrapped in a `tf.function`, as Keras' `predict`
    would run it, so Python overhead per op is not what is measured.
    """
    encode = tf.function(lambda x: encoder.encode(x, modality))
    batch = tf.constant(inputs)
    return median_seconds(lambda: encode(batch).numpy(), repeats=repeats, warmup=3)


def saved_model_latency(encoder, inputs, modality, path, *, repeats):
    """Median seconds of one call of the exported `encode_{modality}` signature.

    Args:
        encoder: A `CrossModalEncoder`.
        inputs: A batch of `modality` inputs.
        modality: `"image"` or `"text"`.
        path: Directory to export to (reused if it already holds the export).
        repeats: Timed calls.
    """
    if not tf.saved_model.contains_saved_model(str(path)):
        export_saved_model(encoder, path)
    signature = tf.saved_model.load(str(path)).signatures[f"encode_{modality}"]
    batch = {INPUT_NAMES[modality]: tf.constant(inputs)}
    return median_seconds(
        lambda: signature(**batch)["embeddings"].numpy(), repeats=repeats, warmup=3
    )


def sample_inputs(split, modality, batch_size):
    """Returns the first `batch_size` inputs of a modality, repeated if needed."""
    inputs = split.images if modality == "image" else split.texts
    index = np.arange(batch_size) % len(inputs)
    return np.asarray(inputs)[index]


def tflite_latency(path, inputs, *, repeats):
    """Median seconds of one LiteRT call on `inputs`, with one thread.

    Args:
        path: A `.tflite` encoder.
        inputs: A batch of its inputs (token ids for raw captions).
        repeats: Timed calls.
    """
    from cmgan_tf.serving.litert import TFLiteEncoder

    run = TFLiteEncoder(path, num_threads=1)
    return median_seconds(lambda: run(inputs), repeats=repeats, warmup=3)
