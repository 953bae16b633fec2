"""Keras callbacks that score retrieval during training."""

import keras
from absl import logging

from cmgan_tf.models.encoder import CrossModalEncoder
from cmgan_tf.retrieval.evaluation import evaluate_encoder


class RetrievalValidation(keras.callbacks.Callback):
    """Adds validation MAP scores to the epoch logs, as `val_<score>`.

    Place it before the callbacks that read the scores (`ModelCheckpoint`
    monitoring `val_map_mean`, `TensorBoard`): Keras passes one logs dict
    through the callbacks in order.

    Args:
        train_split: Training `PairedSplit`, for the standardisation statistics
            of the common representations.
        validation_split: The `PairedSplit` scored.
        standardize: Whether the representations are standardised, as in the
            final encoder.
    """

    def __init__(self, train_split, validation_split, *, standardize):
        super().__init__()
        self.train_split = train_split
        self.validation_split = validation_split
        self.standardize = standardize

    def on_epoch_end(self, epoch, logs=None):
        encoder = CrossModalEncoder.from_generator(
            self.model.generator,
            self.train_split.images,
            self.train_split.texts,
            standardize=self.standardize,
        )
        scores = evaluate_encoder(encoder, self.validation_split, k_values=())
        if logs is not None:
            logs.update({f"val_{name}": value for name, value in scores.items()})
        logging.info(
            "Epoch %d validation MAP: I->T %.4f, T->I %.4f, mean %.4f",
            epoch + 1,
            scores["map_image_to_text"],
            scores["map_text_to_image"],
            scores["map_mean"],
        )
