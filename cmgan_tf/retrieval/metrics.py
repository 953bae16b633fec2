"""Retrieval metrics: MAP and precision@k by cosine similarity.

Labels are either integer class ids of shape `(n,)` or multi-hot arrays of
shape `(n, num_classes)` (0/1, any numeric or bool dtype). A gallery item is
relevant to a query when the two share at least one label (single-label: the
same class).

Ranking: each query ranks the gallery by descending cosine similarity; equal
similarities keep gallery order (the lower gallery index ranks first), so
results are deterministic. Zero vectors have similarity 0 to everything.

The metrics are numpy only and evaluate queries in blocks of `block_size`, so
memory is `O(block_size * gallery_size)` whatever the number of queries.

Reference:
    Peng, Qi, Yuan. "CM-GANs: Cross-modal Generative Adversarial Networks for
    Common Representation Learning". ACM TOMM 15(1), 2019. arXiv:1710.05106.
"""

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

from cmgan_tf.checks import check_positive_int
from cmgan_tf.errors import InvalidInputError


def mean_average_precision(
    query_embeddings,
    gallery_embeddings,
    query_labels,
    gallery_labels,
    *,
    k=None,
    exclude_self=False,
    block_size=1024,
) -> float:
    """Mean average precision (MAP@k) of cosine-similarity retrieval.

    For one query with relevance `rel_i` (1 if the item at rank `i` is
    relevant, else 0), `AP@k = (1 / R_k) * sum_{i <= k} precision@i * rel_i`,
    where `R_k` is the number of relevant items within the top `k`. A query
    with no relevant item in its top `k` has AP 0 and still counts in the mean.
    Ties in similarity are broken by gallery index (see the module docstring).

    Args:
        query_embeddings: float array of shape `(num_queries, dim)`.
        gallery_embeddings: float array of shape `(num_gallery, dim)`.
        query_labels: int class ids `(num_queries,)` or multi-hot
            `(num_queries, num_classes)`.
        gallery_labels: labels of the gallery, in the same form as
            `query_labels`: `(num_gallery,)` or `(num_gallery, num_classes)`.
        k: positive int, the ranks scored per query. `None`, or a `k` at least
            as long as the ranked list, scores the whole list (MAP@all).
            Defaults to `None`.
        exclude_self: whether query `i` is removed from its own gallery: the
            query and gallery sets must then be the same items in the same
            order (e.g. retrieval within one set). Defaults to `False`.
        block_size: positive int, the number of queries ranked at once; it
            bounds memory, not the result. Defaults to `1024`.

    Returns:
        The MAP over all queries, a Python float in `[0, 1]`.

    Raises:
        InvalidInputError: if the embeddings are not finite 2-D arrays of one
            dimension, a set is empty, labels do not match their embeddings
            or each other, `k` or `block_size` is not a positive integer, or
            `exclude_self=True` with sets of different sizes or of one item.

    Example:
    >>> emb = np.eye(3)
    >>> mean_average_precision(emb, emb, np.arange(3), np.arange(3))
    1.0
    """
    inputs = check_query_gallery(
        query_embeddings,
        gallery_embeddings,
        query_labels,
        gallery_labels,
        exclude_self=exclude_self,
    )
    check_positive_int("block_size", block_size)
    depth = inputs.list_length
    if k is not None:
        depth = min(check_positive_int("k", k), depth)
    return ranked_scores(inputs, map_depth=depth, block_size=block_size)["map"]


def precision_at_k(
    query_embeddings,
    gallery_embeddings,
    query_labels,
    gallery_labels,
    *,
    k,
    exclude_self=False,
    block_size=1024,
) -> float:
    """Mean precision@k of cosine-similarity retrieval.

    Precision@k of one query is the fraction of relevant items among its top
    `k`; ties in similarity are broken by gallery index.

    Args:
        query_embeddings: float array of shape `(num_queries, dim)`.
        gallery_embeddings: float array of shape `(num_gallery, dim)`.
        query_labels: int class ids `(num_queries,)` or multi-hot
            `(num_queries, num_classes)`.
        gallery_labels: labels of the gallery, in the same form as
            `query_labels`.
        k: positive int, at most the number of gallery items ranked per query
            (`num_gallery`, or `num_gallery - 1` with `exclude_self`).
        exclude_self: whether query `i` is removed from its own gallery (the
            two sets must be the same items in the same order). Defaults to
            `False`.
        block_size: positive int, the number of queries ranked at once.
            Defaults to `1024`.

    Returns:
        The mean precision@k over all queries, a Python float in `[0, 1]`.

    Raises:
        InvalidInputError: for the invalid inputs listed in
            `mean_average_precision`, and if `k` exceeds the ranked list,
            where precision@k is undefined.

    Example:
    >>> emb = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> precision_at_k(emb, emb, np.array([0, 1]), np.array([0, 1]), k=2)
    0.5
    """
    inputs = check_query_gallery(
        query_embeddings,
        gallery_embeddings,
        query_labels,
        gallery_labels,
        exclude_self=exclude_self,
    )
    check_positive_int("block_size", block_size)
    k = _check_k_within(check_positive_int("k", k), "k", inputs.list_length)
    scores = ranked_scores(inputs, precision_ks=(k,), block_size=block_size)
    return scores[f"precision@{k}"]


def cross_modal_retrieval_scores(
    image_embeddings,
    text_embeddings,
    labels,
    *,
    k_values: Sequence[int] = (10, 50),
    exclude_query_from_gallery=True,
    block_size=1024,
) -> dict[str, float]:
    """Cross-modal and all-modality retrieval scores of paired embeddings.

    Row `i` of `image_embeddings` and of `text_embeddings` is one image-text
    pair with label `labels[i]`. Image→Text ranks all texts for each image
    (the paired text included, as in the paper); Text→Image mirrors it. For
    all-modality retrieval a query ranks all images and all texts together.

    Args:
        image_embeddings: float array of shape `(num_pairs, dim)`, common
            representations of the images.
        text_embeddings: float array of shape `(num_pairs, dim)`, common
            representations of the texts.
        labels: int class ids `(num_pairs,)` or multi-hot
            `(num_pairs, num_classes)`, shared by both items of a pair.
        k_values: positive ints, each at most `num_pairs`, for which
            precision@k is reported. Defaults to `(10, 50)`.
        exclude_query_from_gallery: whether all-modality retrieval removes
            the query itself from its gallery (its paired item in the other
            modality stays). `False` follows the authors' evaluation code,
            where each query retrieves itself at rank 1, for comparison with
            published tables. Defaults to `True`.
        block_size: positive int, the number of queries ranked at once.
            Defaults to `1024`.

    Returns:
        A dict of Python floats with keys `map_image_to_text`,
        `map_text_to_image`, `map_mean` (mean of those two),
        `map_image_to_all`, `map_text_to_all` (all MAP@all), and
        `precision@{k}_image_to_text`, `precision@{k}_text_to_image` for each
        `k` in `k_values`.

    Raises:
        InvalidInputError: if the embeddings are not finite 2-D arrays of one
            dimension and one length, are empty, `labels` does not match them,
            a `k` in `k_values` is not an int in `[1, num_pairs]`, or
            `block_size` is not a positive integer.

    Example:
    >>> emb = np.eye(2)
    >>> scores = cross_modal_retrieval_scores(emb, emb, np.arange(2), k_values=(1,))
    >>> scores["map_mean"], scores["precision@1_image_to_text"]
    (1.0, 1.0)
    """
    images, texts, hot = check_pairs(image_embeddings, text_embeddings, labels)
    num_pairs = len(images)
    check_positive_int("block_size", block_size)
    if isinstance(k_values, int | np.integer | str):
        raise InvalidInputError(
            "`k_values` must be a sequence of positive integers such as (10, 50). "
            f"Received: k_values={k_values!r}."
        )
    k_values = [
        _check_k_within(check_positive_int(f"k_values[{i}]", k), "k_values", num_pairs)
        for i, k in enumerate(k_values)
    ]
    scores = {}
    for direction in cross_modal_directions(
        images, texts, hot, exclude_query_from_gallery=exclude_query_from_gallery
    ):
        # Precision@k is reported for the cross-modal directions only; it
        # comes from the same ranking as their MAP because sorting dominates
        # the cost.
        ranked = ranked_scores(
            direction.inputs,
            map_depth=direction.inputs.list_length,
            precision_ks=() if direction.all_modalities else k_values,
            block_size=block_size,
        )
        scores.update(
            {f"{name}_{direction.name}": value for name, value in ranked.items()}
        )
    scores["map_mean"] = (scores["map_image_to_text"] + scores["map_text_to_image"]) / 2
    return scores


def check_pairs(image_embeddings, text_embeddings, labels):
    """Validate paired embeddings; see `cross_modal_retrieval_scores`.

    Returns:
        `(images, texts, hot)`: float64 `(num_pairs, dim)` twice and the bool
        multi-hot labels `(num_pairs, num_columns)`.
    """
    images = check_embeddings(image_embeddings, "image_embeddings")
    texts = check_embeddings(text_embeddings, "text_embeddings")
    _check_same_dim(images, texts, "image_embeddings", "text_embeddings")
    if len(texts) != len(images):
        raise InvalidInputError(
            "`image_embeddings` and `text_embeddings` must have one row per "
            f"pair, the same number of rows. Received: {len(images)} image rows "
            f"and {len(texts)} text rows."
        )
    labels = _check_labels(labels, "labels", len(images), "image_embeddings")
    (hot,) = as_multi_hot(labels)
    return images, texts, hot


@dataclasses.dataclass(frozen=True)
class CrossModalDirection:
    """One of the four retrieval problems of a set of pairs.

    Attributes:
        name: `"image_to_text"`, `"text_to_image"`, `"image_to_all"` or
            `"text_to_all"`.
        inputs: the validated retrieval problem.
        partners: int `(num_pairs,)`, the gallery row of each query's paired
            item in the other modality.
        all_modalities: whether the gallery holds both modalities.
    """

    name: str
    inputs: "RetrievalInputs"
    partners: np.ndarray
    all_modalities: bool


def cross_modal_directions(
    images, texts, hot, *, exclude_query_from_gallery
) -> list[CrossModalDirection]:
    """The four retrieval problems of validated pairs (see `check_pairs`).

    Image→Text ranks all texts for each image (the paired text included, as
    in the paper); Text→Image mirrors it. For all-modality retrieval a query
    ranks all images and all texts together.

    Args:
        images: float64 `(num_pairs, dim)`.
        texts: float64 `(num_pairs, dim)`.
        hot: bool multi-hot `(num_pairs, num_columns)`.
        exclude_query_from_gallery: whether all-modality retrieval removes
            the query itself from its gallery.

    Returns:
        The directions image_to_text, text_to_image, image_to_all and
        text_to_all, in that order.
    """
    num_pairs = len(images)
    pair_rows = np.arange(num_pairs)
    # Images occupy rows [0, n) of the all-modality gallery and texts [n, 2n),
    # so the query's own row is `i` for image query i and `n + i` for text
    # query i; its paired item, the other row, stays in the gallery.
    everything = np.concatenate([images, texts])
    everything_hot = np.concatenate([hot, hot])
    own_row = pair_rows if exclude_query_from_gallery else None
    text_own_row = None if own_row is None else num_pairs + own_row
    return [
        CrossModalDirection(
            "image_to_text",
            RetrievalInputs(images, texts, hot, hot, None),
            pair_rows,
            False,
        ),
        CrossModalDirection(
            "text_to_image",
            RetrievalInputs(texts, images, hot, hot, None),
            pair_rows,
            False,
        ),
        CrossModalDirection(
            "image_to_all",
            RetrievalInputs(images, everything, hot, everything_hot, own_row),
            num_pairs + pair_rows,
            True,
        ),
        CrossModalDirection(
            "text_to_all",
            RetrievalInputs(texts, everything, hot, everything_hot, text_own_row),
            pair_rows,
            True,
        ),
    ]


@dataclasses.dataclass(frozen=True)
class RetrievalInputs:
    """A validated retrieval problem.

    Attributes:
        query: float64 `(num_queries, dim)`.
        gallery: float64 `(num_gallery, dim)`.
        query_hot: bool multi-hot `(num_queries, num_columns)`.
        gallery_hot: bool multi-hot `(num_gallery, num_columns)`.
        excluded: `None`, or int `(num_queries,)`: the gallery row removed
            from each query's ranked list.
    """

    query: np.ndarray
    gallery: np.ndarray
    query_hot: np.ndarray
    gallery_hot: np.ndarray
    excluded: np.ndarray | None

    @property
    def list_length(self) -> int:
        """Number of gallery items each query ranks."""
        return len(self.gallery) - (self.excluded is not None)


def ranked_scores(
    inputs: RetrievalInputs,
    *,
    map_depth: int | None = None,
    precision_ks: Sequence[int] = (),
    block_size: int,
) -> dict[str, float]:
    """Compute MAP and precision@k from one ranking of each query.

    Args:
        inputs: the validated retrieval problem.
        map_depth: ranks scored by MAP, in `[1, inputs.list_length]`; `None`
            skips MAP.
        precision_ks: the `k` of each precision@k, each in
            `[1, inputs.list_length]`.
        block_size: queries ranked per block.

    Returns:
        Means over queries: `"map"` (if `map_depth` is given) and
        `"precision@{k}"` for each `k`.
    """
    depth = max([k for k in (map_depth, *precision_ks) if k is not None])
    average_precisions = []
    hits = {k: [] for k in precision_ks}
    for relevance in ranked_relevance(inputs, depth=depth, block_size=block_size):
        if map_depth is not None:
            average_precisions.append(
                average_precision_per_query(relevance[:, :map_depth])
            )
        for k in precision_ks:
            hits[k].append(relevance[:, :k].sum(axis=1))
    scores = {}
    if map_depth is not None:
        scores["map"] = float(np.concatenate(average_precisions).mean())
    for k in precision_ks:
        scores[f"precision@{k}"] = float(np.concatenate(hits[k]).mean() / k)
    return scores


def ranked_indices(
    query: np.ndarray,
    gallery: np.ndarray,
    *,
    excluded: np.ndarray | None = None,
    depth: int,
    block_size: int,
) -> Iterator[np.ndarray]:
    """Yield, block by block, the gallery rows of each query's top `depth` items.

    This is the one ranking every metric here scores: descending cosine
    similarity, ties broken by gallery index (see the module docstring).

    Args:
        query: validated float64 `(num_queries, dim)`.
        gallery: validated float64 `(num_gallery, dim)`.
        excluded: `None`, or int `(num_queries,)`: the gallery row removed
            from each query's ranked list. Defaults to `None`.
        depth: ranks kept per query, at most the ranked list's length.
        block_size: queries ranked per block.

    Yields:
        Int arrays of shape `(queries_in_block, depth)`: entry `[q, i]` is the
        gallery row at rank `i + 1` for query `q`. Blocks follow query order.
    """
    # The dot product divided by both norms equals the dot product of the
    # L2-normalised vectors, but dividing last keeps the ties of
    # integer-valued embeddings exact, whatever order BLAS sums in. A zero
    # vector's dot products are exactly 0, so a unit denominator gives it
    # similarity 0 instead of 0/0.
    query_norms = np.linalg.norm(query, axis=1)
    query_norms[query_norms == 0] = 1.0
    gallery_norms = np.linalg.norm(gallery, axis=1)
    gallery_norms[gallery_norms == 0] = 1.0
    for start in range(0, len(query), block_size):
        stop = min(start + block_size, len(query))
        similarity = (query[start:stop] @ gallery.T) / (
            query_norms[start:stop, None] * gallery_norms[None, :]
        )
        if excluded is not None:
            # Similarities lie in [-1, 1], so -inf sends the excluded item to
            # the last rank, which `depth <= list_length` never reaches.
            similarity[np.arange(stop - start), excluded[start:stop]] = -np.inf
        # A stable sort of the negated similarity breaks ties by gallery index.
        yield np.argsort(-similarity, axis=1, kind="stable")[:, :depth]


def ranked_relevance(
    inputs: RetrievalInputs, *, depth: int, block_size: int
) -> Iterator[np.ndarray]:
    """Yield, block by block, the relevance of each query's top `depth` items.

    Args:
        inputs: the validated retrieval problem.
        depth: ranks kept per query, in `[1, inputs.list_length]`.
        block_size: queries ranked per block.

    Yields:
        Bool arrays of shape `(queries_in_block, depth)`: entry `[q, i]` says
        whether the item at rank `i + 1` is relevant to query `q`.
    """
    for _, relevance in ranked_blocks(inputs, depth=depth, block_size=block_size):
        yield relevance


def ranked_blocks(
    inputs: RetrievalInputs, *, depth: int, block_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield, block by block, each query's top `depth` rows and their relevance.

    Args:
        inputs: the validated retrieval problem.
        depth: ranks kept per query, in `[1, inputs.list_length]`.
        block_size: queries ranked per block.

    Yields:
        `(order, relevance)`: int and bool arrays of shape
        `(queries_in_block, depth)`, as `ranked_indices` and
        `ranked_relevance` yield them.
    """
    # 0/1 float32 products count shared labels exactly, and matmul is much
    # faster than a boolean outer "any".
    gallery_hot_t = inputs.gallery_hot.T.astype(np.float32)
    orders = ranked_indices(
        inputs.query,
        inputs.gallery,
        excluded=inputs.excluded,
        depth=depth,
        block_size=block_size,
    )
    starts = range(0, len(inputs.query), block_size)
    for start, order in zip(starts, orders, strict=True):
        query_hot = inputs.query_hot[start : start + len(order)].astype(np.float32)
        relevant = (query_hot @ gallery_hot_t) > 0
        yield order, np.take_along_axis(relevant, order, axis=1)


def average_precision_per_query(relevance: np.ndarray) -> np.ndarray:
    """AP of each row of a ranked relevance array `(num_queries, depth)`.

    Returns:
        Float array `(num_queries,)`; 0 for a row with no relevant item.
    """
    hits = np.cumsum(relevance, axis=1)
    precision = hits / np.arange(1, relevance.shape[1] + 1)
    summed = (precision * relevance).sum(axis=1)
    num_relevant = hits[:, -1]
    return np.divide(
        summed, num_relevant, out=np.zeros_like(summed), where=num_relevant > 0
    )


def as_multi_hot(*label_arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Convert validated label arrays of one form to bool multi-hot matrices.

    Class ids are one-hot encoded over the ids present in any of the arrays,
    so arbitrary (even negative or sparse) ids share one column space.

    Returns:
        One bool array `(n_j, num_columns)` per input array.
    """
    if label_arrays[0].ndim == 1:
        classes = np.unique(np.concatenate(label_arrays))
        return tuple(labels[:, None] == classes[None, :] for labels in label_arrays)
    return tuple(labels.astype(bool) for labels in label_arrays)


def check_query_gallery(
    query_embeddings, gallery_embeddings, query_labels, gallery_labels, exclude_self
) -> RetrievalInputs:
    """Validate a query/gallery problem; see `mean_average_precision`."""
    query = check_embeddings(query_embeddings, "query_embeddings")
    gallery = check_embeddings(gallery_embeddings, "gallery_embeddings")
    _check_same_dim(query, gallery, "query_embeddings", "gallery_embeddings")
    query_labels = _check_labels(
        query_labels, "query_labels", len(query), "query_embeddings"
    )
    gallery_labels = _check_labels(
        gallery_labels, "gallery_labels", len(gallery), "gallery_embeddings"
    )
    if query_labels.ndim != gallery_labels.ndim or (
        query_labels.ndim == 2 and query_labels.shape[1] != gallery_labels.shape[1]
    ):
        raise InvalidInputError(
            "`query_labels` and `gallery_labels` must be in the same form: both "
            "class ids (n,) or both multi-hot with the same number of classes. "
            f"Received: query_labels.shape={query_labels.shape}, "
            f"gallery_labels.shape={gallery_labels.shape}."
        )
    excluded = None
    if exclude_self:
        if len(query) != len(gallery) or len(query) < 2:
            raise InvalidInputError(
                "`exclude_self` requires the query and gallery to be the same "
                "set of at least 2 items (query i is gallery item i). Received: "
                f"exclude_self=True with {len(query)} queries and {len(gallery)} "
                "gallery items."
            )
        excluded = np.arange(len(query))
    query_hot, gallery_hot = as_multi_hot(query_labels, gallery_labels)
    return RetrievalInputs(query, gallery, query_hot, gallery_hot, excluded)


def check_embeddings(embeddings, name: str) -> np.ndarray:
    """Return `embeddings` as a finite, non-empty float64 `(n, dim)` array."""
    try:
        array = np.asarray(embeddings, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(
            f"`{name}` must be a numeric array of shape (num_items, dim). "
            f"Received a value numpy cannot convert to float: {error}"
        ) from error
    if array.ndim != 2:
        raise InvalidInputError(
            f"`{name}` must be a 2-D array of shape (num_items, dim). "
            f"Received: {name}.shape={array.shape}."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidInputError(
            f"`{name}` must hold at least one item of at least one dimension. "
            f"Received: {name}.shape={array.shape}."
        )
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InvalidInputError(
            f"`{name}` must contain only finite values. Received: "
            f"{int(bad.sum())} NaN or Inf entries, the first in row {row}."
        )
    return array


def _check_same_dim(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str):
    """Raise unless two embedding arrays live in the same space."""
    if a.shape[1] != b.shape[1]:
        raise InvalidInputError(
            f"`{name_a}` and `{name_b}` must have the same embedding dimension. "
            f"Received: {name_a}.shape={a.shape}, {name_b}.shape={b.shape}."
        )


def _check_labels(
    labels, name: str, num_items: int, embeddings_name: str
) -> np.ndarray:
    """Return `labels` as int ids `(n,)` or 0/1 multi-hot `(n, c)`."""
    array = np.asarray(labels)
    if array.ndim not in (1, 2) or len(array) != num_items:
        raise InvalidInputError(
            f"`{name}` must be class ids of shape ({num_items},) or multi-hot of "
            f"shape ({num_items}, num_classes), one row per row of "
            f"`{embeddings_name}`. Received: {name}.shape={array.shape}."
        )
    if array.ndim == 1 and not np.issubdtype(array.dtype, np.integer):
        raise InvalidInputError(
            f"`{name}` of shape (n,) must hold integer class ids. "
            f"Received: {name}.dtype={array.dtype}."
        )
    if array.ndim == 2 and not (
        np.issubdtype(array.dtype, np.number) or array.dtype == bool
    ):
        raise InvalidInputError(
            f"`{name}` of shape (n, num_classes) must be a numeric or bool "
            f"multi-hot array. Received: {name}.dtype={array.dtype}."
        )
    if array.ndim == 2 and not np.isin(array, (0, 1)).all():
        raise InvalidInputError(
            f"`{name}` of shape (n, num_classes) must be multi-hot, every entry "
            f"0 or 1. Received values: {np.unique(array)[:10]}."
        )
    return array


def _check_k_within(k: int, name: str, list_length: int) -> int:
    """Return `k`, raising if precision@k would rank past the end of the list."""
    if k > list_length:
        raise InvalidInputError(
            f"`{name}` must not exceed the {list_length} gallery items ranked per "
            f"query, where precision@k is undefined. Received: {name}={k}."
        )
    return k
