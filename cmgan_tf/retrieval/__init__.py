"""Retrieval evaluation of common representations (MAP, precision@k)."""

from cmgan_tf.retrieval.metrics import (
    cross_modal_retrieval_scores,
    mean_average_precision,
    precision_at_k,
)

__all__ = [
    "cross_modal_retrieval_scores",
    "mean_average_precision",
    "precision_at_k",
]
