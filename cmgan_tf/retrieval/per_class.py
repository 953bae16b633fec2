"""MAP broken down by the query's class, so that weak classes stand out.

The per-category MAP of cross-modal retrieval papers: the AP of each query
(as in `mean_average_precision`, over the whole ranked list) averaged over
the queries of one class. A multi-label query counts in each of its classes.
"""

import numpy as np

from cmgan_tf import checks
from cmgan_tf.retrieval import metrics


def per_class_average_precision(
    query_embeddings,
    gallery_embeddings,
    query_labels,
    gallery_labels,
    *,
    exclude_self=False,
    block_size=1024,
):
    """Mean AP@all of the queries of each class.

    Args:
        query_embeddings: float array of shape `(num_queries, dim)`.
        gallery_embeddings: float array of shape `(num_gallery, dim)`.
        query_labels: int class ids `(num_queries,)` or multi-hot
            `(num_queries, num_classes)`.
        gallery_labels: labels of the gallery, in the same form.
        exclude_self: whether query `i` is removed from its own gallery.
            Defaults to `False`.
        block_size: positive int, queries ranked at once. Defaults to `1024`.

    Returns:
        `(average_precision, num_queries)`: float64 and int64 arrays of shape
        `(num_columns,)`, one entry per label column (multi-hot) or per
        distinct class id present, in ascending id order. A class without
        queries has AP `nan` and count 0.

    Raises:
        InvalidInputError: for the invalid inputs listed in
            `mean_average_precision`.

    Example:
    >>> emb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]])
    >>> ap, count = per_class_average_precision(
    ...     emb, emb, np.array([0, 1, 1]), np.array([0, 1, 1])
    ... )
    >>> ap.round(3).tolist(), count.tolist()
    ([1.0, 0.917], [1, 2])
    """
    inputs = metrics.check_query_gallery(
        query_embeddings,
        gallery_embeddings,
        query_labels,
        gallery_labels,
        exclude_self=exclude_self,
    )
    block_size = checks.check_positive_int("block_size", block_size)
    return class_average_precision(inputs, block_size=block_size)


def class_average_precision(inputs, *, block_size):
    """`per_class_average_precision` of a validated `metrics.RetrievalInputs`."""
    query_ap = np.concatenate(
        [
            metrics.average_precision_per_query(relevance)
            for relevance in metrics.ranked_relevance(
                inputs, depth=inputs.list_length, block_size=block_size
            )
        ]
    )
    return class_means(query_ap, inputs.query_hot)


def class_means(query_ap, query_hot):
    """Mean of per-query APs over the queries of each label column.

    Args:
        query_ap: float `(num_queries,)`.
        query_hot: bool multi-hot `(num_queries, num_columns)`.

    Returns:
        `(average_precision, num_queries)` as `per_class_average_precision`.
    """
    membership = query_hot.astype(np.float64)
    counts = membership.sum(axis=0)
    summed = query_ap @ membership
    average = np.divide(
        summed, counts, out=np.full_like(summed, np.nan), where=counts > 0
    )
    return average, counts.astype(np.int64)
