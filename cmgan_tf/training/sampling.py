"""Sampling of mismatched items for the conditional inter-modality discriminators."""

import tensorflow as tf


def sample_mismatched_indices(labels, seed):
    """For each item of a batch, draws another item that shares no label with it.

    The authors' code pairs every sampled item with an item of another class.
    Drawing it from the same batch costs no extra forward pass (its common
    representation is already computed) and works for multi-label data too.
    If every item of the batch shares a label with item `i` (a batch of one
    class), the draw falls back to a uniformly random item.

    Args:
        labels: `(batch, num_classes)` one-hot or multi-hot labels.
        seed: `(2,)` integer seed of the stateless draw.

    Returns:
        `(batch,)` int32 indices into the batch.

    Example:
    >>> labels = tf.one_hot([0, 0, 1], 2)
    >>> sample_mismatched_indices(labels, [1, 2]).numpy()[:2]
    array([2, 2], dtype=int32)
    """
    labels = tf.cast(labels, tf.float32)
    shares_label = tf.matmul(labels, labels, transpose_b=True) > 0
    noise = tf.random.stateless_uniform(tf.shape(shares_label), seed=seed)
    # Uniform noise in [0, 1) ranks candidates at random; pushing matching
    # items below every mismatched one keeps them only as the fallback.
    scores = tf.where(shares_label, noise - 1.0, noise)
    return tf.argmax(scores, axis=1, output_type=tf.int32)
