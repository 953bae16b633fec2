"""Checks that an exported model computes what the Keras encoder computes."""

import json
import pathlib

import numpy as np
import tensorflow as tf

from cmgan_tf.models.autoencoder import MODALITIES
from cmgan_tf.retrieval.metrics import cross_modal_retrieval_scores
from cmgan_tf.retrieval.search import rankings_agree, top_k_search
from cmgan_tf.serving import litert, tflite, tokenizer
from cmgan_tf.serving.gallery import OTHER_MODALITY
from cmgan_tf.serving.signatures import INPUT_NAMES

# Keras and the SavedModel run the same float32 graph; only the order of
# floating-point operations may differ.
SAVED_MODEL_ATOL = 1e-5


def saved_model_parity(path, encoder, split, galleries=None, *, batch_size=256):
    """Compares a SavedModel's signatures with the Keras encoder on a split.

    Args:
        path: SavedModel directory written by `export_saved_model`.
        encoder: The `RetrievalEncoder` it was exported from.
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
        ids = served["ids"]
        if ids.dtype == object:
            # A gallery directory's string ids come back as UTF-8 bytes.
            ids = np.char.decode(ids.astype(bytes), "utf-8")
        k = ids.shape[1]
        indices, scores = top_k_search(reference, gallery.embeddings, k)
        agree = rankings_agree(
            ids,
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


def tflite_parity(directory, encoder, split, *, k=10, num_threads=1):
    """Compares each TFLite encoder of an export with the Keras encoder.

    Every variant embeds both modalities of `split`; its rankings are compared
    with the Keras encoder's and scored with the same MAP as `cmgan-evaluate`.

    Args:
        directory: Directory written by `tflite.export_tflite`.
        encoder: The `RetrievalEncoder` it was exported from.
        split: Split to embed (the test split).
        k: Depth of the compared rankings.
        num_threads: LiteRT interpreter threads.

    Returns:
        Dict from variant to a dict with `image_max_abs_diff`,
        `text_max_abs_diff`, `top_k_overlap` (mean share of each Image->Text
        query's top-k that the Keras ranking also has), `same_top_k` (share of
        queries whose top-k lists agree up to ties within 1e-4), and
        `map_image_to_text`, `map_text_to_image`. Key `"keras"` holds the
        Keras encoder's MAP.
    """
    directory = pathlib.Path(directory)
    manifest = json.loads((directory / tflite.MANIFEST_FILE).read_text())
    reference = {m: encoder.predict_arrays(_inputs(split, m), m) for m in MODALITIES}
    keras_scores = cross_modal_retrieval_scores(
        reference["image"], reference["text"], split.labels, k_values=()
    )
    report = {"keras": {key: keras_scores[key] for key in _MAP_KEYS}}
    k = min(k, split.num_pairs)
    reference_ids, reference_scores = top_k_search(
        reference["image"], reference["text"], k
    )
    for variant in dict.fromkeys(info["variant"] for info in manifest.values()):
        embeddings = {}
        for modality in MODALITIES:
            name = f"{modality}_{variant}.tflite"
            inputs = _inputs(split, modality)
            if manifest[name]["input"]["dtype"] == "int32":
                tokenize = tokenizer.CaptionTokenizer.from_file(
                    directory / manifest[name]["vocabulary"],
                    manifest[name]["input"]["shape"][1],
                )
                inputs = tokenize(list(inputs))
            run = litert.TFLiteEncoder(directory / name, num_threads=num_threads)
            embeddings[modality] = np.concatenate(
                [run(inputs[i : i + 256]) for i in range(0, len(inputs), 256)]
            )
        ids, scores = top_k_search(embeddings["image"], embeddings["text"], k)
        overlap = [
            len(set(a) & set(b)) / k for a, b in zip(ids, reference_ids, strict=True)
        ]
        retrieval = cross_modal_retrieval_scores(
            embeddings["image"], embeddings["text"], split.labels, k_values=()
        )
        report[variant] = {
            **{
                f"{m}_max_abs_diff": float(np.abs(embeddings[m] - reference[m]).max())
                for m in MODALITIES
            },
            "top_k_overlap": float(np.mean(overlap)),
            "same_top_k": float(
                rankings_agree(
                    ids, scores, reference_ids, reference_scores, atol=1e-4
                ).mean()
            ),
            **{key: retrieval[key] for key in _MAP_KEYS},
        }
    return report


_MAP_KEYS = ("map_image_to_text", "map_text_to_image")


def _inputs(split, modality):
    return split.images if modality == "image" else np.asarray(split.texts)
