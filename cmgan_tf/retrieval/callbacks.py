"""Keras callbacks that score retrieval during training."""

import keras
import tensorflow as tf
from absl import logging

from cmgan_tf.retrieval.evaluation import evaluate_encoder


class RetrievalValidation(keras.callbacks.Callback):
    """Adds validation MAP scores to the epoch logs, as `val_<score>`.

    Under `MultiWorkerMirroredStrategy` every worker scores its own copy of
    the (identical) weights, and the scores are then averaged over the
    workers, so that every worker's `BestWeights` takes the same decision
    even where workers' arithmetic differs in the last bits.

    Place it before the callbacks that read the scores (`BestWeights`
    monitoring `val_map_mean`, `TensorBoard`): Keras passes one logs dict
    through the callbacks in order.

    Args:
        validation_split: The `PairedSplit` or `ImageCaptionSplit` scored.
        build_encoder: Callable from the model's generator to the
            `CrossModalEncoder` that will be exported, so that the epoch is
            chosen on the representation that retrieval will rank, e.g.
            `functools.partial(CrossModalEncoder.from_generator, images=...,
            texts=..., representation=...)`.
    """

    def __init__(self, validation_split, build_encoder):
        super().__init__()
        self.validation_split = validation_split
        self.build_encoder = build_encoder

    def on_epoch_end(self, epoch, logs=None):
        encoder = self.build_encoder(self.model.generator)
        scores = evaluate_encoder(encoder, self.validation_split, k_values=())
        strategy = self.model.distribute_strategy
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            scores = _mean_over_workers(scores, strategy)
        if logs is not None:
            logs.update({f"val_{name}": value for name, value in scores.items()})
        logging.info(
            "Epoch %d validation MAP: I->T %.4f, T->I %.4f, mean %.4f",
            epoch + 1,
            scores["map_image_to_text"],
            scores["map_text_to_image"],
            scores["map_mean"],
        )


_replica_copy = tf.function(tf.identity)


def _mean_over_workers(scores, strategy):
    """Returns `scores` averaged over the workers of a multi-worker strategy.

    Every worker must call it at the same point: it is a collective.
    """
    names = sorted(scores)
    local = tf.constant([scores[name] for name in names], tf.float64)
    # Each local replica contributes the worker's scores, so the mean over
    # all replicas weighs every worker equally. A `tf.function` keeps `run`
    # off its slow eager path.
    per_replica = strategy.run(_replica_copy, (local,))
    mean = strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)
    return dict(zip(names, mean.numpy().tolist(), strict=True))
