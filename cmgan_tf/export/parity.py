"""Checks that an exported model computes what the Keras encoder computes."""

import numpy as np
import tensorflow as tf

from cmgan_tf.export.saved_model import INPUT_NAMES, MODALITIES, OTHER_MODALITY
from cmgan_tf.retrieval.search import rankings_agree, top_k_search

# Keras and the SavedModel run the same float32 graph; only the order of
# floating-point operations may differ.
SAVED_MODEL_ATOL = 1e-5


def saved_model_parity(path, encoder, split, galleries=None, *, batch_size=256):
    """Compares a SavedModel's signatures with the Keras encoder on a split.

    Args:
        path: SavedModel directory written by `export_saved_model`.
        encoder: The `CrossModalEncoder` it was exported from.
        split: Split whose images and texts are the queries.
        galleries: The dict of `Gallery` the model was exported with.
        batch_size: Requests are sent in batches of this size.

    Returns:
        Dict with, per modality, `encode_{modality}_max_abs_diff` (largest
        difference of any embedding coordinate) and, for each retrieval
        signature, `retrieve_with_{modality}_agreement`: the share of queries
        whose top-k ids match Keras' ranking up to ties (`rankings_agree`).
    """
    loaded = tf.saved_model.load(str(path))
    report = {}
    for modality in MODALITIES:
        inputs = split.images if modality == "image" else split.texts
        reference = encoder.predict_arrays(inputs, modality)
        served = _call_in_batches(
            loaded.signatures[f"encode_{modality}"], modality, inputs, batch_size
        )
        report[f"encode_{modality}_max_abs_diff"] = float(
            np.abs(served["embeddings"] - reference).max()
        )
        gallery = (galleries or {}).get(OTHER_MODALITY[modality])
        name = f"retrieve_with_{modality}"
        if gallery is None or name not in loaded.signatures:
            continue
        served = _call_in_batches(loaded.signatures[name], modality, inputs, batch_size)
        k = served["ids"].shape[1]
        indices, scores = top_k_search(reference, gallery.embeddings, k)
        agree = rankings_agree(
            served["ids"],
            served["scores"],
            gallery.ids[indices],
            scores,
            atol=SAVED_MODEL_ATOL,
        )
        report[f"{name}_agreement"] = float(agree.mean())
    return report


def _call_in_batches(signature, modality, inputs, batch_size):
    outputs = [
        signature(**{INPUT_NAMES[modality]: tf.constant(inputs[i : i + batch_size])})
        for i in range(0, len(inputs), batch_size)
    ]
    return {
        key: np.concatenate([output[key].numpy() for output in outputs])
        for key in outputs[0]
    }
