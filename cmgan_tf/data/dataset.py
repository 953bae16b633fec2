"""Paired image-text features with class labels, validated once on construction.

Every loader returns a `CrossModalDataset`, so the models, training and
retrieval code downstream can rely on its invariants (float32 2-D arrays, one
row per image-text pair, finite values, 0/1 multi-hot labels with at least one
class per pair) instead of re-checking them.
"""

import dataclasses

import numpy as np

from cmgan_tf.errors import InvalidInputError


def _numeric_matrix(name, value):
    """Return `value` as a float64 2-D array, rejecting what cannot be one."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"`{name}` must be a numeric array. Received dtype {array.dtype}."
        )
    if array.ndim != 2:
        raise InvalidInputError(
            f"`{name}` must be 2-D (pairs, features). Received shape {array.shape}."
        )
    return array.astype(np.float64, copy=False)


def _check_finite(name, array):
    """Raise if `array` holds NaN or Inf, saying how many and the first row."""
    bad = ~np.isfinite(array)
    if bad.any():
        num_nan = int(np.isnan(array).sum())
        num_inf = int(bad.sum()) - num_nan
        first_row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise InvalidInputError(
            f"`{name}` holds {num_nan} NaN and {num_inf} Inf values; the first "
            f"is in row {first_row}. Clean or drop those rows before loading."
        )


def _check_binary(name, array):
    """Raise if `array` holds a value other than 0 or 1."""
    bad = (array != 0) & (array != 1)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"`{name}` must hold only 0 and 1 (multi-hot). Found "
            f"{array[row, col]!r} at row {row}, column {col}."
        )


def labels_from_class_ids(ids, num_classes, *, first_id=0):
    """Turn a vector of integer class ids into one-hot labels.

    Args:
        ids: Integer-valued array-like of shape `(n,)`, `(n, 1)` or `(1, n)`
            (MATLAB stores vectors as one row or one column). Floats are
            accepted when they hold whole numbers, as MATLAB doubles do.
        num_classes: Positive int, the number of classes `C`.
        first_id: Int, the id of the first class: 0 for Python-style ids,
            1 for MATLAB-style ids. Defaults to 0.

    Returns:
        float32 array of shape `(n, num_classes)` with one 1 per row.

    Raises:
        InvalidInputError: If `ids` is empty, not a vector, not whole numbers,
            or outside `[first_id, first_id + num_classes - 1]`.

    Example:
    >>> labels_from_class_ids([1, 3, 2], 3, first_id=1)
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    """
    for arg, value, low in (("num_classes", num_classes, 1), ("first_id", first_id, 0)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | np.integer)
            or value < low
        ):
            raise InvalidInputError(
                f"`{arg}` must be an int >= {low}. Received: {arg}={value!r}"
            )
    array = np.asarray(ids)
    if array.dtype.kind not in "iuf":
        raise InvalidInputError(
            f"Class ids must be numeric. Received dtype {array.dtype}."
        )
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1 or array.size == 0:
        raise InvalidInputError(
            f"Class ids must be a non-empty vector. Received shape {array.shape}."
        )
    not_whole = ~np.isfinite(array) | (array != np.round(array))
    if not_whole.any():
        raise InvalidInputError(
            f"Class ids must be whole numbers; found {int(not_whole.sum())} "
            "fractional, NaN or Inf ids, the first at index "
            f"{int(np.flatnonzero(not_whole)[0])}."
        )
    last_id = first_id + num_classes - 1
    low, high = array.min(), array.max()
    if low < first_id or high > last_id:
        raise InvalidInputError(
            f"Class ids must lie in [{first_id}, {last_id}] (num_classes="
            f"{num_classes}, first_id={first_id}). Found min {low:g} and max "
            f"{high:g}."
        )
    positions = array.astype(np.int64) - first_id
    return np.eye(num_classes, dtype=np.float32)[positions]


def labels_from_multi_hot(array):
    """Check a multi-hot (or one-hot) label matrix and returns it as float32.

    Args:
        array: Numeric or boolean array-like of shape `(n, num_classes)`
            holding only 0 and 1.

    Returns:
        float32 array of shape `(n, num_classes)`.

    Raises:
        InvalidInputError: If `array` is not 2-D, not numeric, or holds a
            value other than 0 and 1.

    Example:
    >>> labels_from_multi_hot([[1, 0, 1], [0, 1, 0]]).shape
    (2, 3)
    """
    matrix = _numeric_matrix("labels", array)
    _check_binary("labels", matrix)
    return matrix.astype(np.float32)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class PairedSplit:
    """Image and text features of `n` pairs with their class labels.

    The arrays are copied to read-only float32 on construction, so a split
    cannot change after it was checked. Equality is identity: comparing
    arrays element-wise would be costly and ambiguous.

    Attributes:
        images: float32 array of shape `(n, image_dim)`.
        texts: float32 array of shape `(n, text_dim)`; row `i` describes the
            same item as `images[i]`.
        labels: float32 multi-hot array of shape `(n, num_classes)`;
            single-label data is one-hot.

    Raises:
        InvalidInputError: If an array is not numeric or not 2-D, the arrays
            differ in their number of rows, there are no rows, a value is NaN
            or Inf, a label is not 0 or 1, or a pair has no label.

    Example:
    >>> split = PairedSplit(
    ...     images=np.zeros((2, 4)),
    ...     texts=np.zeros((2, 3)),
    ...     labels=labels_from_class_ids([0, 1], 2),
    ... )
    >>> split.num_pairs, split.num_classes
    (2, 2)
    """

    images: np.ndarray
    texts: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        arrays = {
            name: _numeric_matrix(name, getattr(self, name))
            for name in ("images", "texts", "labels")
        }
        rows = {name: array.shape[0] for name, array in arrays.items()}
        if len(set(rows.values())) != 1:
            raise InvalidInputError(
                "`images`, `texts` and `labels` must have one row per pair. "
                f"Received {rows['images']} images, {rows['texts']} texts and "
                f"{rows['labels']} labels."
            )
        if rows["images"] == 0:
            raise InvalidInputError("A split needs at least one pair; received 0.")
        for name, array in arrays.items():
            if array.shape[1] == 0:
                raise InvalidInputError(f"`{name}` has no columns.")
            _check_finite(name, array)
        _check_binary("labels", arrays["labels"])
        unlabelled = np.flatnonzero(arrays["labels"].sum(axis=1) == 0)
        if unlabelled.size:
            raise InvalidInputError(
                f"Every pair needs at least one label; {unlabelled.size} pairs "
                f"have none, the first in row {int(unlabelled[0])}."
            )
        for name, array in arrays.items():
            frozen = np.array(array, dtype=np.float32)
            frozen.setflags(write=False)
            object.__setattr__(self, name, frozen)

    @property
    def num_pairs(self):
        """Number of image-text pairs `n`."""
        return self.images.shape[0]

    @property
    def num_classes(self):
        """Number of label columns."""
        return self.labels.shape[1]

    @property
    def image_dim(self):
        """Length of one image feature vector."""
        return self.images.shape[1]

    @property
    def text_dim(self):
        """Length of one text feature vector."""
        return self.texts.shape[1]

    def __repr__(self):
        return (
            f"PairedSplit(num_pairs={self.num_pairs}, image_dim={self.image_dim}, "
            f"text_dim={self.text_dim}, num_classes={self.num_classes})"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class CrossModalDataset:
    """A named cross-modal dataset: a train and a test split of paired features.

    Attributes:
        name: Non-empty str naming the dataset, e.g. `"wikipedia_classic"`.
        train: `PairedSplit` to learn from.
        test: `PairedSplit` to evaluate retrieval on; same `image_dim`,
            `text_dim` and `num_classes` as `train`.
        multi_label: bool, whether a pair may carry more than one class. When
            False, every pair in both splits must have exactly one label.
        class_names: Optional tuple of `num_classes` str, in label-column
            order. A list is accepted and stored as a tuple. Defaults to None.

    Raises:
        InvalidInputError: If a field has the wrong type, the splits disagree
            in dimensions or classes, a pair has several labels while
            `multi_label` is False, or `class_names` has the wrong length.

    Example:
    >>> split = PairedSplit(np.ones((2, 4)), np.ones((2, 3)), np.eye(2))
    >>> data = CrossModalDataset("toy", split, split, multi_label=False)
    >>> data.image_dim, data.text_dim, data.num_classes
    (4, 3, 2)
    """

    name: str
    train: PairedSplit
    test: PairedSplit
    multi_label: bool
    class_names: tuple[str, ...] | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(
                f"`name` must be a non-empty str. Received: name={self.name!r}"
            )
        for field in ("train", "test"):
            value = getattr(self, field)
            if not isinstance(value, PairedSplit):
                raise InvalidInputError(
                    f"`{field}` must be a PairedSplit. Received type "
                    f"{type(value).__name__}."
                )
        if not isinstance(self.multi_label, bool | np.bool_):
            raise InvalidInputError(
                "`multi_label` must be a bool. Received: "
                f"multi_label={self.multi_label!r}"
            )
        object.__setattr__(self, "multi_label", bool(self.multi_label))
        for dim in ("image_dim", "text_dim", "num_classes"):
            train_dim, test_dim = getattr(self.train, dim), getattr(self.test, dim)
            if train_dim != test_dim:
                raise InvalidInputError(
                    f"Train and test must agree in {dim}. Received {train_dim} "
                    f"for train and {test_dim} for test."
                )
        if not self.multi_label:
            for field in ("train", "test"):
                counts = getattr(self, field).labels.sum(axis=1)
                multi = np.flatnonzero(counts > 1)
                if multi.size:
                    raise InvalidInputError(
                        f"`multi_label` is False but {multi.size} {field} pairs "
                        f"have several labels, the first in row {int(multi[0])}."
                    )
        if self.class_names is not None:
            names = tuple(self.class_names)
            if not all(isinstance(n, str) for n in names):
                raise InvalidInputError(
                    f"`class_names` must all be str. Received: {names!r}"
                )
            if len(names) != self.num_classes:
                raise InvalidInputError(
                    f"`class_names` must name all {self.num_classes} classes. "
                    f"Received {len(names)} names."
                )
            object.__setattr__(self, "class_names", names)

    @property
    def image_dim(self):
        """Length of one image feature vector."""
        return self.train.image_dim

    @property
    def text_dim(self):
        """Length of one text feature vector."""
        return self.train.text_dim

    @property
    def num_classes(self):
        """Number of classes (label columns)."""
        return self.train.num_classes
