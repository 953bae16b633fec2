"""Ranking curves: interpolated precision-recall and precision@k against k.

The curves that cross-modal retrieval papers plot beside MAP. They score the
ranking of `cmgan_tf.retrieval.metrics` (cosine similarity, ties broken by
gallery index) with its notion of relevance (a shared label), so their
numbers and MAP describe the same lists.
"""

import numpy as np

from cmgan_tf import checks
from cmgan_tf.retrieval import metrics

# 101 recall levels 0, 0.01, ..., 1, as the curves of retrieval papers.
DEFAULT_RECALL_LEVELS = 101


def precision_recall_curve(
    query_embeddings,
    gallery_embeddings,
    query_labels,
    gallery_labels,
    *,
    num_levels=DEFAULT_RECALL_LEVELS,
    exclude_self=False,
    block_size=1024,
):
    """Mean interpolated precision at evenly spaced recall levels.

    For one query with `R` relevant items in its ranked list, precision and
    recall after rank `i` are `hits_i / i` and `hits_i / R`. Its interpolated
    precision at recall level `r` is the best precision at any rank whose
    recall is at least `r` (as in TREC and PASCAL VOC), which makes the curve
    non-increasing. The curve is the mean over queries; a query with no
    relevant item contributes precision 0 at every level, as it contributes
    AP 0 to MAP. The area under it is the mean interpolated AP, slightly
    above MAP.

    Args:
        query_embeddings: float array of shape `(num_queries, dim)`.
        gallery_embeddings: float array of shape `(num_gallery, dim)`.
        query_labels: int class ids `(num_queries,)` or multi-hot
            `(num_queries, num_classes)`.
        gallery_labels: labels of the gallery, in the same form.
        num_levels: int >= 2, recall levels `0, 1/(num_levels-1), ..., 1`.
            Defaults to `101`.
        exclude_self: whether query `i` is removed from its own gallery (the
            two sets must be the same items in the same order). Defaults to
            `False`.
        block_size: positive int, queries ranked at once. Defaults to `1024`.

    Returns:
        `(recall, precision)`: float64 arrays of shape `(num_levels,)`.

    Raises:
        InvalidInputError: for the invalid inputs listed in
            `mean_average_precision`, or a `num_levels` below 2.

    Example:
    >>> emb = np.eye(2)
    >>> recall, precision = precision_recall_curve(
    ...     emb, emb, np.arange(2), np.arange(2), num_levels=3
    ... )
    >>> recall.tolist(), precision.tolist()
    ([0.0, 0.5, 1.0], [1.0, 1.0, 1.0])
    """
    inputs = metrics.check_query_gallery(
        query_embeddings,
        gallery_embeddings,
        query_labels,
        gallery_labels,
        exclude_self=exclude_self,
    )
    checks.require(
        checks.is_positive_int(num_levels) and num_levels >= 2,
        "`num_levels` must be an integer >= 2 (the recall levels include 0 "
        f"and 1). Received: num_levels={num_levels!r}",
    )
    block_size = checks.check_positive_int("block_size", block_size)
    return interpolated_precision_recall(inputs, num_levels, block_size=block_size)


def interpolated_precision_recall(inputs, num_levels, *, block_size):
    """`precision_recall_curve` of a validated `metrics.RetrievalInputs`."""
    total = sum(
        interpolated_precision_sum(relevance, num_levels)
        for relevance in metrics.ranked_relevance(
            inputs, depth=inputs.list_length, block_size=block_size
        )
    )
    return np.linspace(0.0, 1.0, num_levels), total / len(inputs.query)


def interpolated_precision_sum(relevance, num_levels):
    """Interpolated precision at each recall level, summed over queries.

    Args:
        relevance: bool `(num_queries, list_length)`, whole ranked lists.
        num_levels: int >= 2, recall levels `j / (num_levels - 1)`.

    Returns:
        float64 `(num_levels,)`.
    """
    levels = np.arange(num_levels)
    total = np.zeros(num_levels)
    hits = np.cumsum(relevance, axis=1)
    precision = hits / np.arange(1, relevance.shape[1] + 1)
    # Best precision at this rank or any later one.
    best_after = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    for row_hits, row_best in zip(hits, best_after, strict=True):
        num_relevant = row_hits[-1]
        if num_relevant == 0:
            continue
        # Recall level j / (L - 1) needs ceil(R * j / (L - 1)) hits; integer
        # arithmetic keeps levels such as 0.3 * 10 exact.
        needed = -(-num_relevant * levels // (num_levels - 1))
        total += row_best[np.searchsorted(row_hits, needed, side="left")]
    return total


def precision_at_k_curve(
    query_embeddings,
    gallery_embeddings,
    query_labels,
    gallery_labels,
    *,
    k_values=None,
    exclude_self=False,
    block_size=1024,
):
    """Mean precision@k for a range of `k`.

    Args:
        query_embeddings: float array of shape `(num_queries, dim)`.
        gallery_embeddings: float array of shape `(num_gallery, dim)`.
        query_labels: int class ids `(num_queries,)` or multi-hot
            `(num_queries, num_classes)`.
        gallery_labels: labels of the gallery, in the same form.
        k_values: positive ints, each at most the ranked list's length, or
            `None` for `default_k_values` of that length. Defaults to `None`.
        exclude_self: whether query `i` is removed from its own gallery.
            Defaults to `False`.
        block_size: positive int, queries ranked at once. Defaults to `1024`.

    Returns:
        `(k, precision)`: int64 and float64 arrays of one length, `k` sorted
        ascending without repeats.

    Raises:
        InvalidInputError: for the invalid inputs listed in
            `mean_average_precision`, and for a `k` that is not a positive
            integer or exceeds the ranked list.

    Example:
    >>> emb = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> k, precision = precision_at_k_curve(
    ...     emb, emb, np.array([0, 1]), np.array([0, 1]), k_values=(1, 2)
    ... )
    >>> k.tolist(), precision.tolist()
    ([1, 2], [1.0, 0.5])
    """
    inputs = metrics.check_query_gallery(
        query_embeddings,
        gallery_embeddings,
        query_labels,
        gallery_labels,
        exclude_self=exclude_self,
    )
    if k_values is None:
        k_values = default_k_values(inputs.list_length)
    k_values = checks.check_positive_ints("k_values", k_values)
    checks.require(
        max(k_values) <= inputs.list_length,
        f"`k_values` must not exceed the {inputs.list_length} gallery items "
        f"ranked per query. Received: k_values={k_values!r}",
    )
    block_size = checks.check_positive_int("block_size", block_size)
    return precision_at_ks(inputs, k_values, block_size=block_size)


def precision_at_ks(inputs, k_values, *, block_size):
    """`precision_at_k_curve` of a validated `metrics.RetrievalInputs`."""
    k_values = sorted(set(k_values))
    scores = metrics.ranked_scores(inputs, precision_ks=k_values, block_size=block_size)
    return (
        np.array(k_values, dtype=np.int64),
        np.array([scores[f"precision@{k}"] for k in k_values]),
    )


def default_k_values(list_length, num=40):
    """About `num` cut-offs from 1 to `list_length`, evenly spaced in log k.

    Example:
    >>> default_k_values(10, num=4)
    (1, 2, 5, 10)
    """
    k_values = np.unique(np.rint(np.geomspace(1, list_length, num)).astype(int))
    return tuple(int(k) for k in k_values)
