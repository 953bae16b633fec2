"""Paired images and texts with class labels, validated once on construction.

Every loader returns a `CrossModalDataset` of `PairedSplit`s (pre-extracted
feature vectors), of `ImageCaptionSplit`s (pixels and strings) or, for
training splits streamed from image files, `ImageFileSplit`s (paths and
strings), so the models, training and retrieval code downstream can rely on
their invariants (one entry per pair, finite values, 0/1 multi-hot labels
with at least one class per pair) instead of re-checking them.
"""

import dataclasses

import numpy as np
import tensorflow as tf
from absl import logging

from cmgan_tf.checks import check_choice, check_positive_int
from cmgan_tf.data.image_stream import (
    BAD_ITEM_POLICIES,
    flag_decoded,
    read_image_file,
)
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


def _check_labels(labels):
    """Raise unless `labels` is multi-hot with at least one label per pair."""
    _check_binary("labels", labels)
    unlabelled = np.flatnonzero(labels.sum(axis=1) == 0)
    if unlabelled.size:
        raise InvalidInputError(
            f"Every pair needs at least one label; {unlabelled.size} pairs "
            f"have none, the first in row {int(unlabelled[0])}."
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
        _check_labels(arrays["labels"])
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

    @property
    def image_shape(self):
        """Shape of one image input: `(image_dim,)`."""
        return self.images.shape[1:]

    @property
    def text_shape(self):
        """Shape of one text input: `(text_dim,)`."""
        return self.texts.shape[1:]

    def __repr__(self):
        return (
            f"PairedSplit(num_pairs={self.num_pairs}, image_dim={self.image_dim}, "
            f"text_dim={self.text_dim}, num_classes={self.num_classes})"
        )


def _as_rgb_uint8(images):
    array = np.asarray(images)
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"`images` must be numeric pixels. Received dtype {array.dtype}."
        )
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4:
        raise InvalidInputError(
            "`images` must be (n, height, width, channels) or grayscale "
            f"(n, height, width). Received shape {array.shape}."
        )
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.shape[-1] != 3:
        raise InvalidInputError(
            "`images` must have 3 (RGB) or 1 (grayscale) channels. Received "
            f"{array.shape[-1]} channels (shape {array.shape}); drop the alpha "
            "channel of RGBA images."
        )
    if array.dtype != np.uint8:
        if not np.isfinite(array).all():
            raise InvalidInputError("`images` hold NaN or Inf values.")
        if array.size and (array.min() < 0 or array.max() > 255):
            raise InvalidInputError(
                "`images` must hold pixel values in [0, 255]. Received values "
                f"from {array.min()} to {array.max()}."
            )
        array = np.rint(array).astype(np.uint8)
    return array


def check_image_size(image_size):
    """Raises `InvalidInputError` unless `image_size` is a positive integer.

    Args:
        image_size: Side that a loader resizes images to.
    """
    check_positive_int("image_size", image_size)


def decode_texts(texts):
    """Returns texts as a list of `str`, decoding UTF-8 bytes.

    Args:
        texts: 1-D sequence of `str` or UTF-8 `bytes`.

    Returns:
        List of `str`, one per text.

    Raises:
        InvalidInputError: for one text instead of a sequence, a sequence
            that is not 1-D or is empty, or a text that is not `str` or UTF-8
            `bytes` or is empty or whitespace only; the index is named.
    """
    if isinstance(texts, str | bytes):
        raise InvalidInputError(
            f"`texts` must be a 1-D sequence of texts, not one text. "
            f"Received: texts={texts!r:.80}"
        )
    # Not `np.ndim(texts)`: on a list mixing str and bytes, numpy decodes the
    # bytes as ASCII and raises before the UTF-8 check can name the text.
    if isinstance(texts, np.ndarray) and texts.ndim != 1:
        raise InvalidInputError(f"`texts` must be 1-D. Received: shape={texts.shape}")
    if len(texts) == 0:
        raise InvalidInputError("`texts` is empty.")
    decoded = []
    for index, text in enumerate(texts):
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InvalidInputError(
                    f"`texts[{index}]` is not valid UTF-8 ({error.reason} at byte "
                    f"{error.start}). Received: texts[{index}]={text!r:.80}"
                ) from None
        if not isinstance(text, str):
            raise InvalidInputError(
                f"`texts[{index}]` must be a str or UTF-8 bytes; `texts` must be "
                "a 1-D sequence of texts. "
                f"Received: type={type(text).__name__}"
            )
        if not text.strip():
            raise InvalidInputError(
                f"`texts[{index}]` is empty or whitespace only. "
                f"Received: texts[{index}]={text!r}"
            )
        decoded.append(str(text))
    return decoded


def _freeze_raw_pairs(split, image_field, images):
    """Checks a raw split's texts and labels against `images`; freezes all three.

    Sets `image_field`, `texts` (str array) and `labels` (float32) on the
    frozen dataclass `split` as read-only copies, so that freezing them leaves
    the caller's arrays writable.
    """
    labels = _numeric_matrix("labels", split.labels)
    if len(images) == 0:
        raise InvalidInputError("A split needs at least one pair; received 0.")
    texts = np.asarray(decode_texts(split.texts), dtype=str)
    counts = (len(images), len(texts), len(labels))
    if len(set(counts)) != 1:
        raise InvalidInputError(
            f"`{image_field}`, `texts` and `labels` must have one entry per pair. "
            f"Received {counts[0]} {image_field}, {counts[1]} texts and {counts[2]} "
            "labels."
        )
    _check_labels(labels)
    for name, array in ((image_field, images), ("texts", texts), ("labels", labels)):
        frozen = np.array(array, dtype=np.float32 if name == "labels" else None)
        frozen.setflags(write=False)
        object.__setattr__(split, name, frozen)


class _CaptionedPairs:
    """`num_pairs` and `num_classes` of a split of captions and `labels`."""

    @property
    def num_pairs(self):
        """Number of pairs."""
        return len(self.texts)

    @property
    def num_classes(self):
        """Number of classes (label columns)."""
        return self.labels.shape[1]


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class ImageCaptionSplit(_CaptionedPairs):
    """Images and captions of `n` pairs with their class labels.

    The raw-input counterpart of `PairedSplit`, with the same attribute names.
    Accepted, and what becomes of it:

    - images: `(n, h, w, 3)` RGB, uint8 or float in [0, 255]; grayscale
      `(n, h, w)` or `(n, h, w, 1)` is repeated to three channels; other
      channel counts (e.g. RGBA), other ranks, NaN/Inf and values outside
      [0, 255] are rejected. Stored as uint8.
    - texts: a 1-D sequence of `str`, or of `bytes` holding UTF-8 (see
      `decode_texts`).
    - labels: multi-hot `(n, num_classes)`, at least one label per pair.

    Attributes:
        images: uint8 array `(n, height, width, 3)`.
        texts: str array `(n,)`; `texts[i]` describes `images[i]`.
        labels: float32 multi-hot array `(n, num_classes)`.

    Raises:
        InvalidInputError: on anything rejected above, or
            different numbers of images, texts and labels, or no pairs.

    Example:
    >>> split = ImageCaptionSplit(
    ...     images=np.zeros((2, 8, 8), "uint8"),
    ...     texts=["a red box", b"a blue disc"],
    ...     labels=np.eye(2),
    ... )
    >>> split.images.shape, str(split.texts[1])
    ((2, 8, 8, 3), 'a blue disc')
    """

    images: np.ndarray
    texts: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        _freeze_raw_pairs(self, "images", _as_rgb_uint8(self.images))

    @property
    def image_shape(self):
        """Shape of one image: `(height, width, 3)`."""
        return self.images.shape[1:]

    @property
    def text_shape(self):
        """Shape of one text: `()`, a scalar string."""
        return self.texts.shape[1:]

    def __repr__(self):
        return (
            f"ImageCaptionSplit(num_pairs={self.num_pairs}, "
            f"image_shape={self.image_shape}, num_classes={self.num_classes})"
        )


class ImageFiles:
    """Image files seen as a read-only uint8 array, decoded when indexed.

    What `ImageFileSplit.images` is: code written for an array of pixels
    (`images[i]`, `images[rows]`, `images[i:j]`, `images.shape`,
    `np.asarray(images)`) reads the files it asks for and no others, several
    rows in parallel in `tf.data`. Each read decodes again; nothing is kept.

    Args:
        paths: str array of `n` image paths.
        image_size: Side the images are resized to.
        on_bad_item: `"fail"` raises on a file that is missing or does not
            decode; `"skip"` leaves it out of a multi-row read (which then
            returns fewer rows). Defaults to `"fail"`.

    Raises:
        InvalidInputError: when indexed under `"fail"`, naming the first file
            that is missing or does not decode.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, paths, image_size, on_bad_item="fail"):
        check_choice("on_bad_item", on_bad_item, BAD_ITEM_POLICIES)
        self.paths = paths
        self.image_size = image_size
        self.on_bad_item = on_bad_item

    @property
    def shape(self):
        """`(n, image_size, image_size, 3)`."""
        return (len(self.paths), self.image_size, self.image_size, 3)

    def __len__(self):
        return len(self.paths)

    def decode(self, rows):
        """Decodes the images of `rows`; returns `(images, decoded)`.

        `images` is `(len(rows), image_size, image_size, 3)` uint8, zeros
        where the bool array `decoded` is False.
        """
        paths = self.paths[rows]
        dataset = flag_decoded(
            tf.data.Dataset.from_tensor_slices({"path": paths}),
            (self.image_size, self.image_size),
        )
        images = np.zeros((len(paths), *self.shape[1:]), np.uint8)
        decoded = np.zeros(len(paths), bool)
        for index, element in enumerate(dataset.as_numpy_iterator()):
            images[index], decoded[index] = element["image"], element["decoded"]
        return images, decoded

    def __getitem__(self, key):
        size = (self.image_size, self.image_size)
        if isinstance(key, int | np.integer):
            return read_image_file(self.paths[key], size)
        rows = np.arange(len(self.paths))[key]
        images, decoded = self.decode(rows)
        if self.on_bad_item == "fail" and not decoded.all():
            # Read it alone for the error that says why.
            read_image_file(self.paths[rows[np.argmin(decoded)]], size)
        return images[decoded]

    def __array__(self, dtype=None, copy=None):
        images = self[:]
        return images if dtype is None else images.astype(dtype)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class ImageFileSplit(_CaptionedPairs):
    """Image files and captions of `n` pairs with their labels, not decoded.

    The streaming form of `ImageCaptionSplit`, for training splits larger
    than memory: it holds paths, and `cmgan_tf.data.pipeline` reads and
    decodes the images in `tf.data` as training consumes them, so memory
    does not grow with `n`. `images` is an `ImageFiles` view that decodes the
    rows it is indexed with, for code that needs a few arrays; `load()`
    decodes the whole split, for small splits (validation, test) that
    evaluation reads as arrays.

    Attributes:
        paths: str array `(n,)` of image files (PNG, JPEG, GIF or BMP).
        texts: str array `(n,)`; `texts[i]` describes the image `paths[i]`.
        labels: float32 multi-hot array `(n, num_classes)`.
        image_size: Side the images are resized to when decoded.

    Raises:
        InvalidInputError: as `ImageCaptionSplit` for texts and labels, or if
            a path is empty or `image_size` is not a positive integer. Files
            are not opened here.

    Example:
    >>> split = ImageFileSplit(["a.png", "b.jpg"], ["a box", "a disc"], np.eye(2), 8)
    >>> split.image_shape, split.images.shape
    ((8, 8, 3), (2, 8, 8, 3))
    """

    paths: np.ndarray
    texts: np.ndarray
    labels: np.ndarray
    image_size: int

    def __post_init__(self):
        check_image_size(self.image_size)
        paths = np.asarray([str(path) for path in self.paths], dtype=str)
        empty = np.flatnonzero(np.char.str_len(paths) == 0) if paths.size else []
        if len(empty):
            raise InvalidInputError(
                f"`paths[{int(empty[0])}]` is empty. Received: paths={paths[:3]!r}..."
            )
        _freeze_raw_pairs(self, "paths", paths)

    @property
    def images(self):
        """An `ImageFiles` view `(n, image_size, image_size, 3)` of the files."""
        return self.image_files()

    @property
    def image_shape(self):
        """Shape of one decoded image: `(image_size, image_size, 3)`."""
        return (self.image_size, self.image_size, 3)

    @property
    def text_shape(self):
        """Shape of one text: `()`, a scalar string."""
        return ()

    def select(self, rows):
        """Returns the pairs at `rows` (indices or a boolean mask), in order."""
        return ImageFileSplit(
            self.paths[rows], self.texts[rows], self.labels[rows], self.image_size
        )

    def image_files(self, on_bad_item="fail"):
        """An `ImageFiles` view of the files, reading bad files as `on_bad_item`."""
        return ImageFiles(self.paths, self.image_size, on_bad_item)

    def load(self, on_bad_item="fail"):
        """Decodes every image; returns the split as an `ImageCaptionSplit`.

        Args:
            on_bad_item: `"fail"` raises on a file that is missing or does
                not decode; `"skip"` leaves its pair out, with a warning in
                the log naming how many and the first. Defaults to `"fail"`.

        Raises:
            InvalidInputError: naming the first file that is missing or does
                not decode, under `"fail"`, or if no pair is left.
        """
        files = self.image_files(on_bad_item)
        if on_bad_item == "fail":
            return ImageCaptionSplit(files[:], self.texts, self.labels)
        images, decoded = files.decode(slice(None))
        if not decoded.all():
            logging.warning(
                "Left out %d of %d pairs whose images could not be decoded "
                "(on_bad_item=skip), the first %s.",
                int((~decoded).sum()),
                self.num_pairs,
                self.paths[np.argmin(decoded)],
            )
        return ImageCaptionSplit(
            images[decoded], self.texts[decoded], self.labels[decoded]
        )

    def __repr__(self):
        return (
            f"ImageFileSplit(num_pairs={self.num_pairs}, "
            f"image_shape={self.image_shape}, num_classes={self.num_classes})"
        )


# The splits of raw images and captions, decoded or not.
RAW_SPLITS = (ImageCaptionSplit, ImageFileSplit)


@dataclasses.dataclass(frozen=True, eq=False)
class CrossModalDataset:
    """A named cross-modal dataset: a train and a test split of paired features.

    Attributes:
        name: Non-empty str naming the dataset, e.g. `"wikipedia_classic"`.
        train: `PairedSplit`, or for raw pairs an `ImageCaptionSplit` or an
            `ImageFileSplit` (streamed from its files when training).
        test: Split of the same kind (features or raw pairs) to evaluate
            retrieval on, with the same `image_shape`, `text_shape` and
            `num_classes` as `train`.
        multi_label: bool, whether a pair may carry more than one class. When
            False, every pair in both splits must have exactly one label.
        class_names: Optional tuple of `num_classes` str, in label-column
            order. A list is accepted and stored as a tuple. Defaults to None.
        validation: Optional split of the same kind and dimensions as `train`,
            for files that come with their own validation pairs; training
            then chooses its epoch on it instead of carving validation pairs
            out of `train`. Defaults to None.

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
    validation: PairedSplit | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(
                f"`name` must be a non-empty str. Received: name={self.name!r}"
            )
        for field in self._split_fields():
            value = getattr(self, field)
            if not isinstance(value, (PairedSplit, *RAW_SPLITS)):
                raise InvalidInputError(
                    f"`{field}` must be a PairedSplit, an ImageCaptionSplit or an "
                    f"ImageFileSplit. Received type {type(value).__name__}."
                )
            if isinstance(value, RAW_SPLITS) != isinstance(self.train, RAW_SPLITS):
                raise InvalidInputError(
                    f"`train` and `{field}` must both hold features or both raw "
                    f"pairs. Received {type(self.train).__name__} and "
                    f"{type(value).__name__}."
                )
        if not isinstance(self.multi_label, bool | np.bool_):
            raise InvalidInputError(
                "`multi_label` must be a bool. Received: "
                f"multi_label={self.multi_label!r}"
            )
        object.__setattr__(self, "multi_label", bool(self.multi_label))
        for field in self._split_fields()[1:]:
            other = getattr(self, field)
            for dim in ("image_shape", "text_shape", "num_classes"):
                train_dim, other_dim = getattr(self.train, dim), getattr(other, dim)
                if train_dim != other_dim:
                    raise InvalidInputError(
                        f"Train and {field} must agree in {dim}. Received "
                        f"{train_dim} for train and {other_dim} for {field}."
                    )
        if not self.multi_label:
            for field in self._split_fields():
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

    def _split_fields(self):
        """Names of the splits present: train, test and maybe validation."""
        if self.validation is None:
            return ("train", "test")
        return ("train", "test", "validation")

    @property
    def raw(self):
        """Whether the splits hold pixels and strings rather than features."""
        return isinstance(self.train, RAW_SPLITS)

    @property
    def image_dim(self):
        """Length of one image feature vector (feature datasets only)."""
        return self._feature_dim("image")

    @property
    def text_dim(self):
        """Length of one text feature vector (feature datasets only)."""
        return self._feature_dim("text")

    def _feature_dim(self, modality):
        if self.raw:
            raise InvalidInputError(
                f"`{modality}_dim` is the length of a feature vector, and dataset "
                f"{self.name!r} holds raw images and captions; use "
                f"`{modality}_shape` ({getattr(self, f'{modality}_shape')})."
            )
        return getattr(self.train, f"{modality}_dim")

    @property
    def image_shape(self):
        """Shape of one image input: `(image_dim,)` or `(height, width, 3)`."""
        return self.train.image_shape

    @property
    def text_shape(self):
        """Shape of one text input: `(text_dim,)`, or `()` for a caption."""
        return self.train.text_shape

    @property
    def num_classes(self):
        """Number of classes (label columns)."""
        return self.train.num_classes
