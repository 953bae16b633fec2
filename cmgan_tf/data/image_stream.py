"""Image files decoded and resized in `tf.data`, for embedding, serving and training."""

import numpy as np
import tensorflow as tf

from cmgan_tf.errors import InvalidInputError

# What to do with an item that cannot be read (`cmgan-embed --on_bad_item`,
# `cmgan-train --on_bad_item`): stop naming it, or leave it out and count it.
BAD_ITEM_POLICIES = ("fail", "skip")


def decode_image(contents, image_shape):
    """Decodes one encoded image and resizes it to `image_shape`.

    What `cmgan-embed` does to an image file and the serving signatures to
    the bytes of a request, so that both see the same pixels.

    Args:
        contents: Scalar string tensor: a PNG, JPEG, GIF or BMP file's bytes.
        image_shape: `(height, width)`.

    Returns:
        `(height, width, 3)` uint8 tensor, resized with antialiasing as the
        image-folder loader does; GIFs give their first frame.
    """
    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    resized = tf.image.resize(image, image_shape, antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def read_image_file(path, image_shape, where=None):
    """Reads and decodes one image file now, as `decode_image` does in a stream.

    Args:
        path: Path of a PNG, JPEG, GIF or BMP file.
        image_shape: `(height, width)`.
        where: Optional str naming the item for errors, e.g. a table's line.

    Returns:
        `(height, width, 3)` uint8 NumPy array.

    Raises:
        InvalidInputError: naming `where` and `path`, if the file is missing
            or does not decode.
    """
    prefix = f"{where}: " if where else ""
    if not tf.io.gfile.exists(str(path)):
        raise InvalidInputError(f"{prefix}image not found: tried {path}")
    try:
        image = decode_image(tf.io.read_file(str(path)), image_shape)
    except tf.errors.InvalidArgumentError as error:
        raise InvalidInputError(
            f"{prefix}could not decode {path} as PNG, JPEG, GIF or BMP; the "
            "file is damaged or not an image."
        ) from error
    return np.asarray(image)


def flag_decoded(dataset, image_shape):
    """Decodes the `path` of every element, flagging the files that fail.

    Each element gets `image` and `decoded`: the decoded pixels and `True`,
    or zeros and `False` for a file that is missing or damaged, so that the
    caller decides what a bad file does (stop, naming it, or be left out)
    instead of the stream failing without a name. Files are read and decoded
    in parallel, a few elements ahead; the order of the elements is kept.

    Args:
        dataset: `tf.data.Dataset` of dicts with a scalar string `path`.
        image_shape: `(height, width)` to resize to.

    Returns:
        `tf.data.Dataset` of the same dicts plus `image`, `(height, width, 3)`
        uint8, and `decoded`, a scalar bool.
    """
    blank = tf.zeros((*image_shape, 3), tf.uint8)

    def one(element):
        # A one-element dataset is the only place tf.data can catch a decode
        # error (`ignore_errors`); the fallback element then marks the file.
        decoded = (
            tf.data.Dataset.from_tensors(element["path"])
            .map(lambda path: (decode_image(tf.io.read_file(path), image_shape), True))
            .ignore_errors()
        )
        fallback = tf.data.Dataset.from_tensors((blank, False))
        return (
            decoded.concatenate(fallback)
            .take(1)
            .map(lambda image, ok: {**element, "image": image, "decoded": ok})
        )

    # Each input gives exactly one element, so a deterministic interleave
    # with blocks of one keeps the input order while reading in parallel.
    return dataset.interleave(
        one,
        cycle_length=tf.data.AUTOTUNE,
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def image_file_stream(files, image_shape, batch_size):
    """A `tf.data` stream of `(rows, images)` batches decoded from files.

    Files are read and decoded as the stream is consumed, a few batches
    ahead, never all at once. A file that does not decode is left out of the
    stream: its row is missing from `rows`, which is how the caller finds it.

    Args:
        files: List of image paths.
        image_shape: `(height, width)` to resize to.
        batch_size: Items per batch.

    Returns:
        `tf.data.Dataset` of `(rows, images)`: `(batch,)` int64 and
        `(batch, height, width, 3)` uint8.
    """
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.range(len(files), dtype=tf.int64), tf.constant(files, tf.string))
    )
    dataset = dataset.map(
        lambda row, path: (row, decode_image(tf.io.read_file(path), image_shape)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return dataset.ignore_errors().batch(batch_size).prefetch(tf.data.AUTOTUNE)
