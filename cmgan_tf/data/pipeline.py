"""tf.data input pipelines over paired splits, of features or of raw pairs."""

import tensorflow as tf

from cmgan_tf.errors import InvalidInputError


def training_dataset(split, batch_size, seed, *, num_replicas=1, text_vectorizer=None):
    """Returns the shuffled, batched training pairs.

    Batches are dicts ready for `CMGAN.train_step`: `image` `(batch,
    *image_shape)`, `text` `(batch, text_dim)` and `labels` `(batch,
    num_classes)`. Raw pairs keep their uint8 pixels, and their captions are
    turned into `(batch, sequence_length)` token ids here by
    `text_vectorizer`: string operations cannot run inside the XLA-compiled
    training step.
    The last partial batch is dropped so that every step has the same shape
    (XLA compiles once) and every replica the same share; the order changes each
    epoch, so no pair is left out for good. Across workers the dataset is
    sharded by data: each worker trains on its share of every global batch.

    Args:
        split: A `PairedSplit` or `ImageCaptionSplit` of training pairs.
        batch_size: Global batch size, over all replicas of all workers.
        seed: Shuffling seed.
        num_replicas: Replicas the batch is split over, of all workers; must
            divide `batch_size`. Defaults to 1.
        text_vectorizer: For raw pairs, the adapted
            `keras.layers.TextVectorization` of the text trunk; `None` for
            feature vectors.

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
    dataset = (
        dataset.cache()
        .shuffle(split.num_pairs, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
    )
    if text_vectorizer is not None:
        dataset = dataset.map(
            lambda batch: {**batch, "text": text_vectorizer(batch["text"])},
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    # Under MultiWorkerMirroredStrategy, Keras splits each global batch into
    # per-replica batches and each worker keeps its replicas' share. The pairs
    # are in memory, not in files that workers could split among themselves,
    # so sharding is by data, stated here rather than left to the AUTO policy
    # to fall back to. Every worker shuffles with the same seed, so the
    # shares of a batch are disjoint and cover it.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)
