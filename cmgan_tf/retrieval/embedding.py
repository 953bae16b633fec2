"""Embedding a collection with an encoder, batch by batch, into an array."""

import time

import keras
import numpy as np
import tensorflow as tf

from cmgan_tf.data.collection_files import BadItem
from cmgan_tf.data.image_stream import image_file_stream
from cmgan_tf.errors import InvalidInputError


def encoder_image_shape(encoder):
    """`(height, width)` of a pixel encoder's images, `None` for features."""
    shape = encoder.get_build_config()["input_shape"]["image"]
    return tuple(shape[1:3]) if len(shape) == 4 else None


def _array_batches(array, batch_size, dtype):
    """Yields `(rows, batch)` of an array's finite rows; reports the others."""
    for start in range(0, len(array), batch_size):
        batch = np.asarray(array[start : start + batch_size])
        rows = np.arange(start, start + len(batch))
        if np.issubdtype(batch.dtype, np.floating):
            finite = np.isfinite(batch.reshape(len(batch), -1)).all(axis=1)
            rows, batch = rows[finite], batch[finite]
        yield rows, batch.astype(dtype)


def _batches(encoder, collection, modality, batch_size):
    """Yields `(rows, inputs)` of one modality of a collection."""
    if modality == "image" and collection.image_files is not None:
        image_shape = encoder_image_shape(encoder)
        if image_shape is None:
            raise InvalidInputError(
                "This run's image encoder takes feature vectors, not image "
                "files: pass --images=FEATURES.npy."
            )
        for rows, images in image_file_stream(
            collection.image_files, image_shape, batch_size
        ):
            yield rows.numpy(), images
    elif modality == "text" and collection.captions is not None:
        if encoder.text_vectorizer is None:
            raise InvalidInputError(
                "This run's text encoder takes feature vectors, not captions: "
                "pass --captions=FEATURES.npy."
            )
        captions = tf.data.Dataset.from_tensor_slices(collection.captions)
        for start, batch in enumerate(captions.batch(batch_size)):
            yield np.arange(start * batch_size, start * batch_size + len(batch)), batch
    else:
        array = collection.image_array if modality == "image" else collection.text_array
        shape = encoder.get_build_config()["input_shape"][modality]
        if array.shape[1:] != tuple(shape[1:]):
            raise InvalidInputError(
                f"This run's {modality} encoder takes inputs of shape "
                f"{tuple(shape[1:])}; the {modality} inputs have {array.shape[1:]}."
            )
        dtype = np.uint8 if len(shape) == 4 else np.float32
        yield from _array_batches(array, batch_size, dtype)


def embed_modality(
    encoder, collection, modality, output, *, batch_size=64, fail_fast=True, verbose=1
):
    """Embeds one modality of a collection into `output`, row by row.

    Image files are decoded as they stream, so memory does not grow with the
    collection; `output` may be a memory-mapped `.npy`. A progress bar shows
    the items embedded and the rate.

    Args:
        encoder: A `RetrievalEncoder` (a `CrossModalEncoder` or an
            `EnsembleEncoder`).
        collection: A `Collection` with `modality`.
        modality: `"image"` or `"text"`.
        output: `(len(collection.ids), dim)` float32 array to fill; rows of
            items that cannot be embedded are left as they are.
        batch_size: Items per encoder call.
        fail_fast: Raise at the first item that cannot be embedded.
        verbose: 0 for silence, else a progress bar.

    Returns:
        `(bad, seconds)`: dict from each row left out (an image that does
        not decode, a feature row with NaN/Inf) to its `BadItem`, and the
        time taken.

    Raises:
        InvalidInputError: With `fail_fast`, naming the first bad item; for
            inputs the encoder does not take.
    """
    encode = tf.function(
        lambda inputs: encoder.encode(inputs, modality), reduce_retracing=True
    )
    count = len(collection.ids)
    progress = keras.utils.Progbar(
        count, verbose=verbose, stateful_metrics=["items/s"], unit_name="item"
    )
    bad, expected, done = {}, 0, 0
    start = time.perf_counter()

    def left_out(rows):
        reason = (
            "could not decode as PNG, JPEG, GIF or BMP (damaged or not an image)"
            if modality == "image" and collection.image_files is not None
            else "holds NaN or Inf"
        )
        for row in rows:
            item = BadItem(collection.where[row], reason)
            if fail_fast:
                raise InvalidInputError(f"{item}. Pass --on_bad_item=skip to skip it.")
            bad[row] = item

    for rows, inputs in _batches(encoder, collection, modality, batch_size):
        # A stream leaves out the rows it cannot read: the gaps are the bad items.
        left_out(range(expected, rows[0]) if len(rows) else [])
        for previous, row in zip(rows[:-1], rows[1:], strict=True):
            left_out(range(previous + 1, row))
        if len(rows):
            output[rows] = keras.ops.convert_to_numpy(encode(inputs))
            expected = rows[-1] + 1
        done += len(rows)
        progress.update(
            expected, values=[("items/s", done / (time.perf_counter() - start))]
        )
    left_out(range(expected, count))
    return bad, time.perf_counter() - start
