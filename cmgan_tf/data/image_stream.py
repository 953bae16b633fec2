"""Image files decoded and resized as a `tf.data` stream, for embedding and serving."""

import tensorflow as tf


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
