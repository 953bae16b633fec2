"""Retrieval evaluation of a `CrossModalEncoder` on a paired split."""

import numpy as np

from cmgan_tf.retrieval.metrics import cross_modal_retrieval_scores

# Display order and names of the MAP table.
TABLE_ROWS = (
    ("map_image_to_text", "Image -> Text"),
    ("map_text_to_image", "Text -> Image"),
    ("map_mean", "Mean (I->T, T->I)"),
    ("map_image_to_all", "Image -> All"),
    ("map_text_to_all", "Text -> All"),
)


def evaluate_encoder(
    encoder, split, *, exclude_query_from_gallery=True, k_values=(10, 50)
):
    """Scores cross-modal retrieval among the pairs of a split.

    Each image queries the split's texts (and the reverse), ranked by cosine
    similarity of the encoder's representations.

    Args:
        encoder: A `CrossModalEncoder`.
        split: A `PairedSplit` or `ImageCaptionSplit`.
        exclude_query_from_gallery: For all-modality retrieval, remove the
            query itself from the gallery (its paired item stays). `False` is
            the authors' protocol. Defaults to `True`.
        k_values: Cut-offs of the precision@k scores. Defaults to `(10, 50)`.

    Returns:
        Dict of scores (see `cross_modal_retrieval_scores`).
    """
    return cross_modal_retrieval_scores(
        encoder.predict_arrays(split.images, "image"),
        encoder.predict_arrays(split.texts, "text"),
        split.labels,
        k_values=tuple(k for k in k_values if k <= split.num_pairs),
        exclude_query_from_gallery=exclude_query_from_gallery,
    )


def random_ranking_scores(labels, *, exclude_query_from_gallery=True, seed=0):
    """Scores of rankings that ignore the items: the chance level of a split.

    Embeddings are drawn at random, independently of the items, so every
    ranking is a random permutation; MAP then measures only how many relevant
    items the labels provide.

    Args:
        labels: `(num_pairs,)` class ids or `(num_pairs, num_classes)` multi-hot
            labels of the split.
        exclude_query_from_gallery: As for `evaluate_encoder`.
        seed: Seed of the random embeddings.

    Returns:
        Dict with the MAP keys of `cross_modal_retrieval_scores`.
    """
    rng = np.random.default_rng(seed)
    # Wide Gaussian vectors make ties between similarities vanishingly rare.
    images, texts = rng.normal(size=(2, len(labels), 64))
    return cross_modal_retrieval_scores(
        images,
        texts,
        labels,
        k_values=(),
        exclude_query_from_gallery=exclude_query_from_gallery,
    )


def format_map_table(scores, title="MAP@all", chance=None):
    """Returns the MAP scores as a Markdown table.

    Args:
        scores: Dict from `evaluate_encoder`.
        title: Heading of the score column.
        chance: Optional dict from `random_ranking_scores`, shown as a second
            column.
    """
    if chance is None:
        lines = [f"| Task | {title} |", "| --- | ---: |"]
        lines += [f"| {label} | {scores[key]:.4f} |" for key, label in TABLE_ROWS]
    else:
        lines = [f"| Task | {title} | Random ranking |", "| --- | ---: | ---: |"]
        lines += [
            f"| {label} | {scores[key]:.4f} | {chance[key]:.4f} |"
            for key, label in TABLE_ROWS
        ]
    return "\n".join(lines)
