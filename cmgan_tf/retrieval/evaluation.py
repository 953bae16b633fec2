"""Retrieval evaluation of a `RetrievalEncoder` on a paired split."""

import numpy as np

from cmgan_tf import checks
from cmgan_tf.retrieval import curves, instance, metrics, per_class
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
        encoder: A `RetrievalEncoder` (a `CrossModalEncoder` or an
            `EnsembleEncoder`).
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
    return cross_modal_retrieval_scores(
        *random_embeddings(len(labels), seed=seed),
        labels,
        k_values=(),
        exclude_query_from_gallery=exclude_query_from_gallery,
    )


def random_embeddings(num_pairs, *, seed=0):
    """Image and text embeddings independent of the items: random rankings.

    Args:
        num_pairs: Number of pairs.
        seed: Seed of the draw.

    Returns:
        `(images, texts)`: float64 arrays of shape `(num_pairs, 64)`.
    """
    rng = np.random.default_rng(seed)
    # Wide Gaussian vectors make ties between similarities vanishingly rare.
    images, texts = rng.normal(size=(2, num_pairs, 64))
    return images, texts


def retrieval_report(
    image_embeddings,
    text_embeddings,
    labels,
    *,
    exclude_query_from_gallery=True,
    recall_k_values=(1, 5, 10),
    num_recall_levels=curves.DEFAULT_RECALL_LEVELS,
    block_size=1024,
):
    """Every retrieval score of paired embeddings, per direction, as JSON data.

    Beside MAP@all: recall@k of each query's true partner (the other item of
    its pair), precision@k over a range of `k`, the interpolated
    precision-recall curve and the AP of each class, for the four directions
    of `cross_modal_retrieval_scores`, on the same rankings.

    Args:
        image_embeddings: float array `(num_pairs, dim)`.
        text_embeddings: float array `(num_pairs, dim)`; row `i` is paired
            with image `i`.
        labels: int class ids `(num_pairs,)` or multi-hot
            `(num_pairs, num_classes)`.
        exclude_query_from_gallery: whether all-modality retrieval removes
            the query itself from its gallery. Defaults to `True`.
        recall_k_values: positive ints, the `k` of recall@k. Defaults to
            `(1, 5, 10)`.
        num_recall_levels: int >= 2, points of the precision-recall curve.
            Defaults to `101`.
        block_size: positive int, queries ranked at once. Defaults to `1024`.

    Returns:
        Dict from direction name (`image_to_text`, `text_to_image`,
        `image_to_all`, `text_to_all`) to a dict of lists and floats:
        `map`; `recall@{k}` for each `k`; `precision_at_k` with lists `k` and
        `precision`; `precision_recall` with lists `recall` and `precision`
        and their trapezoidal `area`; `per_class` with lists
        `average_precision` (`None` for a class without queries) and
        `num_queries`, one entry per label column.

    Raises:
        InvalidInputError: for the inputs rejected by
            `cross_modal_retrieval_scores`, and for invalid `k` or levels.
    """
    images, texts, hot = metrics.check_pairs(image_embeddings, text_embeddings, labels)
    recall_k_values = checks.check_positive_ints("recall_k_values", recall_k_values)
    block_size = checks.check_positive_int("block_size", block_size)
    report = {}
    for direction in metrics.cross_modal_directions(
        images, texts, hot, exclude_query_from_gallery=exclude_query_from_gallery
    ):
        report[direction.name] = _direction_report(
            direction, recall_k_values, num_recall_levels, block_size
        )
    return report


def _direction_report(direction, recall_k_values, num_recall_levels, block_size):
    """`retrieval_report`'s entry for one direction, from one ranking pass."""
    inputs = direction.inputs
    precision_ks = curves.default_k_values(inputs.list_length)
    query_ap, partner_ranks, hits_at_k = [], [], []
    interpolated = np.zeros(num_recall_levels)
    # Sorting dominates the cost, so every score comes from one ranking.
    blocks = metrics.ranked_blocks(
        inputs, depth=inputs.list_length, block_size=block_size
    )
    for start, (order, relevance) in zip(
        range(0, len(inputs.query), block_size), blocks, strict=True
    ):
        query_ap.append(metrics.average_precision_per_query(relevance))
        partners = direction.partners[start : start + len(order)]
        partner_ranks.append(instance.partner_ranks(order, partners))
        hits = np.cumsum(relevance, axis=1)
        hits_at_k.append(hits[:, np.array(precision_ks) - 1])
        interpolated += curves.interpolated_precision_sum(relevance, num_recall_levels)
    query_ap = np.concatenate(query_ap)
    partner_ranks = np.concatenate(partner_ranks)
    interpolated /= len(inputs.query)
    levels = np.linspace(0.0, 1.0, num_recall_levels)
    class_ap, class_queries = per_class.class_means(query_ap, inputs.query_hot)
    return {
        "map": float(query_ap.mean()),
        **{f"recall@{k}": float(np.mean(partner_ranks <= k)) for k in recall_k_values},
        "precision_at_k": {
            "k": list(precision_ks),
            "precision": (
                np.concatenate(hits_at_k).mean(axis=0) / np.array(precision_ks)
            ).tolist(),
        },
        "precision_recall": {
            "recall": levels.tolist(),
            "precision": interpolated.tolist(),
            "area": float(np.trapezoid(interpolated, levels)),
        },
        "per_class": {
            "average_precision": [
                None if np.isnan(ap) else float(ap) for ap in class_ap
            ],
            "num_queries": class_queries.tolist(),
        },
    }


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
