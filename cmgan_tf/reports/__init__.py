"""Results to look at: figures, retrieval grids and the embedding projector."""

from cmgan_tf.reports.evaluation_report import write_evaluation_report

__all__ = ["write_evaluation_report"]
