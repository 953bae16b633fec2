"""Raw image-caption pairs, validated once on construction.

The raw-input counterpart of `PairedSplit`: the same attribute names
(`images`, `texts`, `labels`), so that pipelines can serve both, but images
are pixels and texts are strings. What is accepted, and what becomes of it:

- images: `(n, h, w, 3)` RGB, uint8 or float in [0, 255]; grayscale
  `(n, h, w)` or `(n, h, w, 1)` is repeated to three channels; other channel
  counts (e.g. RGBA), other ranks, NaN/Inf and values outside [0, 255] are
  rejected. Stored as uint8.
- texts: `str`, or `bytes` holding UTF-8; empty or whitespace-only texts and
  bytes that are not UTF-8 are rejected, naming the first offending index.
- labels: multi-hot `(n, num_classes)`, at least one label per pair.
"""

import dataclasses

import numpy as np

from cmgan_tf.data.dataset import _check_binary, _numeric_matrix
from cmgan_tf.errors import InvalidInputError


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


def _as_texts(texts):
    items = list(np.asarray(texts, dtype=object).reshape(-1))
    decoded = []
    for index, text in enumerate(items):
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InvalidInputError(
                    f"Text {index} is not valid UTF-8 ({error.reason} at byte "
                    f"{error.start}). Re-encode the captions as UTF-8."
                ) from error
        if not isinstance(text, str):
            raise InvalidInputError(
                f"Text {index} must be a string. Received {type(text).__name__}."
            )
        if not text.strip():
            raise InvalidInputError(
                f"Text {index} is empty or only whitespace; every pair needs a caption."
            )
        decoded.append(text)
    return np.asarray(decoded, dtype=str)


@dataclasses.dataclass(frozen=True, eq=False)
class ImageCaptionSplit:
    """Images and captions of `n` pairs with their class labels.

    Attributes:
        images: uint8 array `(n, height, width, 3)`.
        texts: str array `(n,)`; `texts[i]` describes `images[i]`.
        labels: float32 multi-hot array `(n, num_classes)`.

    Raises:
        InvalidInputError: on anything the module docstring rejects, or
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
        images = _as_rgb_uint8(self.images)
        texts = _as_texts(self.texts)
        labels = _numeric_matrix("labels", self.labels)
        counts = (len(images), len(texts), len(labels))
        if len(set(counts)) != 1:
            raise InvalidInputError(
                "`images`, `texts` and `labels` must have one entry per pair. "
                f"Received {counts[0]} images, {counts[1]} texts and {counts[2]} "
                "labels."
            )
        if counts[0] == 0:
            raise InvalidInputError("A split needs at least one pair; received 0.")
        _check_binary("labels", labels)
        unlabelled = np.flatnonzero(labels.sum(axis=1) == 0)
        if unlabelled.size:
            raise InvalidInputError(
                f"Every pair needs at least one label; {unlabelled.size} pairs "
                f"have none, the first in row {int(unlabelled[0])}."
            )
        for name, array in (
            ("images", images),
            ("texts", texts),
            ("labels", labels.astype(np.float32)),
        ):
            array.flags.writeable = False
            object.__setattr__(self, name, array)

    @property
    def num_pairs(self):
        """Number of pairs."""
        return len(self.texts)

    @property
    def num_classes(self):
        """Number of classes (label columns)."""
        return self.labels.shape[1]
