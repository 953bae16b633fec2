"""Instance-level retrieval: recall@k of the item written for each query.

Class-level MAP rewards any item of the query's class; image-caption
retrieval papers also report recall@k of the *true partner*, the caption
written for the image (or the image a caption was written for). It needs no
labels and tells a model that retrieves the right kind of item apart from one
that retrieves the right item.

Ranking is that of `cmgan_tf.retrieval.metrics` (cosine similarity, ties
broken by gallery index), so recall@k and MAP score the same lists.
"""

from collections.abc import Sequence

import numpy as np

from cmgan_tf import checks
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.retrieval import metrics


def recall_at_k(
    query_embeddings,
    gallery_embeddings,
    partners,
    *,
    k_values: Sequence[int] = (1, 5, 10),
    excluded=None,
    block_size=1024,
) -> dict[int, float]:
    """Recall@k of each query's one true partner in the gallery.

    Recall@k is the fraction of queries whose partner ranks among their top
    `k`; a `k` past the end of the ranked list counts the whole list (1.0).

    Args:
        query_embeddings: float array `(num_queries, dim)`.
        gallery_embeddings: float array `(num_gallery, dim)`.
        partners: int array `(num_queries,)`, the gallery row paired with
            each query.
        k_values: non-empty sequence of positive ints. Defaults to
            `(1, 5, 10)`.
        excluded: `None`, or int array `(num_queries,)`: a gallery row removed
            from each query's list (the query itself, when the gallery holds
            the queries). It must differ from the partner. Defaults to `None`.
        block_size: positive int, queries ranked at once. Defaults to `1024`.

    Returns:
        Dict from each `k` to its recall, a Python float in `[0, 1]`.

    Raises:
        InvalidInputError: on embeddings as rejected by
            `mean_average_precision`, `partners` or `excluded` that are not
            one gallery row per query, a partner that is also excluded, or a
            `k` or `block_size` that is not a positive integer.

    Example:
    >>> emb = np.eye(3)
    >>> recall_at_k(emb, emb, np.array([0, 2, 1]), k_values=(1, 3))
    {1: 0.3333333333333333, 3: 1.0}
    """
    query = metrics.check_embeddings(query_embeddings, "query_embeddings")
    gallery = metrics.check_embeddings(gallery_embeddings, "gallery_embeddings")
    if query.shape[1] != gallery.shape[1]:
        raise InvalidInputError(
            "`query_embeddings` and `gallery_embeddings` must have the same "
            f"embedding dimension. Received: {query.shape[1]} and "
            f"{gallery.shape[1]}."
        )
    partners = _check_rows("partners", partners, len(query), len(gallery))
    if excluded is not None:
        excluded = _check_rows("excluded", excluded, len(query), len(gallery))
        clash = np.flatnonzero(excluded == partners)
        if clash.size:
            raise InvalidInputError(
                "`excluded` must not remove a query's partner from its list. "
                f"Received: excluded[{clash[0]}] = partners[{clash[0]}] = "
                f"{partners[clash[0]]}."
            )
    k_values = checks.check_positive_ints("k_values", k_values)
    block_size = checks.check_positive_int("block_size", block_size)
    list_length = len(gallery) - (excluded is not None)
    depth = min(max(k_values), list_length)
    orders = metrics.ranked_indices(
        query, gallery, excluded=excluded, depth=depth, block_size=block_size
    )
    starts = range(0, len(query), block_size)
    ranks = np.concatenate(
        [
            partner_ranks(order, partners[start : start + len(order)])
            for start, order in zip(starts, orders, strict=True)
        ]
    )
    return {k: float(np.mean(ranks <= k)) for k in k_values}


def partner_ranks(order, partners):
    """The 1-based rank of each query's partner in its top-`depth` list.

    Args:
        order: int `(num_queries, depth)` gallery rows, best first.
        partners: int `(num_queries,)` gallery rows.

    Returns:
        int `(num_queries,)`; `depth + 1` where the partner is not listed.
    """
    found = order == partners[:, None]
    return np.where(found.any(axis=1), found.argmax(axis=1) + 1, order.shape[1] + 1)


def _check_rows(name, rows, num_queries, num_gallery) -> np.ndarray:
    """Return `rows` as int64 `(num_queries,)` gallery rows, or raise."""
    array = np.asarray(rows)
    checks.require(
        array.shape == (num_queries,) and np.issubdtype(array.dtype, np.integer),
        f"`{name}` must be integer gallery rows, one per query, of shape "
        f"({num_queries},). Received: dtype {array.dtype}, shape {array.shape}.",
    )
    bad = np.flatnonzero((array < 0) | (array >= num_gallery))
    if bad.size:
        raise InvalidInputError(
            f"`{name}` must lie in [0, {num_gallery - 1}], rows of the gallery. "
            f"Received: {name}[{bad[0]}]={array[bad[0]]}."
        )
    return array.astype(np.int64)
