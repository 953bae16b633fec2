"""tf.data input pipelines over paired splits."""

import tensorflow as tf

from cmgan_tf.errors import InvalidInputError


def training_dataset(split, batch_size, seed, *, num_replicas=1):
    """Returns the shuffled, batched training pairs.

    Batches are dicts ready for `CMGAN.train_step`: `image` `(batch, image_dim)`,
    `text` `(batch, text_dim)` and `labels` `(batch, num_classes)`, all float32.
    The last partial batch is dropped so that every step has the same shape
    (XLA compiles once) and every replica the same share; the order changes each
    epoch, so no pair is left out for good.

    Args:
        split: A `PairedSplit` of training pairs.
        batch_size: Global batch size.
        seed: Shuffling seed.
        num_replicas: Replicas the batch is split over; must divide
            `batch_size`. Defaults to 1.

    Returns:
        A `tf.data.Dataset` of dicts.

    Raises:
        InvalidInputError: if a batch does not fit the data or the replicas.
    """
    if batch_size > split.num_pairs:
        raise InvalidInputError(
            f"`batch_size` ({batch_size}) exceeds the number of training pairs "
            f"({split.num_pairs}); no full batch can be formed. Use a smaller "
            "--batch_size."
        )
    if batch_size % num_replicas:
        raise InvalidInputError(
            f"`batch_size` ({batch_size}) must be a multiple of the number of "
            f"replicas ({num_replicas}) so that every replica gets an equal share."
        )
    dataset = tf.data.Dataset.from_tensor_slices(
        {"image": split.images, "text": split.texts, "labels": split.labels}
    )
    return (
        dataset.cache()
        .shuffle(split.num_pairs, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
