"""Retrieval evaluation of a `CrossModalEncoder` on a paired split."""

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
        split: A `PairedSplit`.
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


def format_map_table(scores, title="MAP@all"):
    """Returns the MAP scores as a Markdown table.

    Args:
        scores: Dict from `evaluate_encoder`.
        title: Heading of the score column.
    """
    lines = [f"| Task | {title} |", "| --- | ---: |"]
    lines += [f"| {label} | {scores[key]:.4f} |" for key, label in TABLE_ROWS]
    return "\n".join(lines)
