"""Seeded train / validation splits carved out of a training split."""

import numbers

import numpy as np

from cmgan_tf.data.dataset import RAW_SPLITS, ImageFileSplit, PairedSplit
from cmgan_tf.errors import InvalidInputError


def train_validation_split(split, validation_fraction, seed):
    """Split pairs into a train part and a validation part, reproducibly.

    Single-label data is stratified: each class gives about
    `validation_fraction` of its pairs to validation, so both parts keep the
    class proportions, and every class with at least 2 pairs keeps at least
    one in train. Multi-label data has no single class to stratify on and is
    split uniformly at random. Both parts keep the original row order.

    Args:
        split: `PairedSplit`, `ImageCaptionSplit` or `ImageFileSplit` of `n`
            pairs; an `ImageFileSplit` is split into two of its kind, with
            no file read.
        validation_fraction: float in (0, 1); `round(validation_fraction * n)`
            pairs go to validation.
        seed: int >= 0. The same seed gives the same split.

    Returns:
        Tuple `(train, validation)` of splits of the same type, of
        `n - round(validation_fraction * n)` and
        `round(validation_fraction * n)` pairs.

    Raises:
        InvalidInputError: If `split` is not a split,
            `validation_fraction` is not in (0, 1) or leaves either part
            empty, `seed` is not an int >= 0, or validation cannot take that
            many pairs while every class keeps one in train.

    Example:
    >>> from cmgan_tf.data import load_wikipedia_classic
    >>> train = load_wikipedia_classic().train
    >>> fit, validation = train_validation_split(train, 0.1, seed=0)
    >>> fit.num_pairs, validation.num_pairs
    (1956, 217)
    """
    if not isinstance(split, (PairedSplit, *RAW_SPLITS)):
        raise InvalidInputError(
            "`split` must be a PairedSplit, an ImageCaptionSplit or an "
            f"ImageFileSplit. Received type {type(split).__name__}."
        )
    if (
        isinstance(validation_fraction, bool)
        or not isinstance(validation_fraction, numbers.Real)
        or not 0 < validation_fraction < 1
    ):
        raise InvalidInputError(
            "`validation_fraction` must be a number in (0, 1). Received: "
            f"validation_fraction={validation_fraction!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidInputError(f"`seed` must be an int >= 0. Received: seed={seed!r}")
    num_pairs = split.num_pairs
    num_validation = round(validation_fraction * num_pairs)
    if not 1 <= num_validation <= num_pairs - 1:
        raise InvalidInputError(
            f"validation_fraction={validation_fraction} of {num_pairs} pairs puts "
            f"{num_validation} in validation; each part needs at least 1 pair."
        )
    rng = np.random.default_rng(seed)
    if (split.labels.sum(axis=1) == 1).all():
        validation = _stratified_indices(
            split.labels.argmax(axis=1), num_validation, rng
        )
    else:
        validation = rng.choice(num_pairs, size=num_validation, replace=False)
    in_validation = np.zeros(num_pairs, dtype=bool)
    in_validation[validation] = True
    return _subset(split, ~in_validation), _subset(split, in_validation)


def _stratified_indices(class_ids, num_validation, rng):
    """Draw `num_validation` indices, per class in proportion to its size.

    Each class first gets the whole part of its quota `fraction * size`; the
    pairs still owed go one at a time to the classes with the largest
    fractional remainders (ties broken at random). A class of `size >= 2`
    gives at most `size - 1`, so it keeps one pair in train.
    """
    classes, sizes = np.unique(class_ids, return_counts=True)
    caps = np.where(sizes >= 2, sizes - 1, sizes)
    if caps.sum() < num_validation:
        raise InvalidInputError(
            f"Cannot put {num_validation} of {class_ids.size} pairs in validation "
            f"while each of the {int((sizes >= 2).sum())} classes with 2 or more "
            f"pairs keeps one in train; at most {int(caps.sum())} can go. Lower "
            "`validation_fraction`."
        )
    quotas = sizes * (num_validation / class_ids.size)
    counts = np.minimum(np.floor(quotas).astype(np.int64), caps)
    # Shuffle before a stable sort so that equal remainders are ranked by seed,
    # not by class id, which would always favour the low classes.
    order = rng.permutation(classes.size)
    order = order[np.argsort(-(quotas - counts)[order], kind="stable")]
    while counts.sum() < num_validation:
        for index in order:
            if counts.sum() == num_validation:
                break
            if counts[index] < caps[index]:
                counts[index] += 1
    picked = [
        rng.choice(np.flatnonzero(class_ids == label), size=count, replace=False)
        for label, count in zip(classes, counts, strict=True)
    ]
    return np.concatenate(picked)


def _subset(split, mask):
    """Return the pairs of `split` where `mask` is True, in their order."""
    if isinstance(split, ImageFileSplit):
        return split.select(mask)
    return type(split)(split.images[mask], split.texts[mask], split.labels[mask])


def concatenate_splits(first, second):
    """Return the pairs of `first` followed by those of `second`.

    Args:
        first: `PairedSplit` or `ImageCaptionSplit` of `n` pairs.
        second: Split of the same type, dimensions and classes, `m` pairs.

    Returns:
        A split of that type with the `n + m` pairs.

    Raises:
        InvalidInputError: If the splits differ in type, in the shape of one
            image or text, or in the number of classes, or are image files
            (whose validation pairs are decoded into memory for scoring).

    Example:
    >>> from cmgan_tf.data import load_wikipedia_classic
    >>> data = load_wikipedia_classic()
    >>> concatenate_splits(data.train, data.test).num_pairs
    2866
    """
    if isinstance(first, ImageFileSplit) or isinstance(second, ImageFileSplit):
        raise InvalidInputError(
            "Splits of image files cannot be joined with other pairs; decode "
            "them into an ImageCaptionSplit first."
        )
    if type(first) is not type(second):
        raise InvalidInputError(
            "Only splits of one type can be joined. Received "
            f"{type(first).__name__} and {type(second).__name__}."
        )
    for shape in ("image_shape", "text_shape"):
        if getattr(first, shape) != getattr(second, shape):
            raise InvalidInputError(
                f"The splits differ in {shape}: {getattr(first, shape)} and "
                f"{getattr(second, shape)}."
            )
    if first.num_classes != second.num_classes:
        raise InvalidInputError(
            f"The splits differ in their number of classes: {first.num_classes} "
            f"and {second.num_classes}."
        )
    return type(first)(
        *(
            np.concatenate([getattr(first, name), getattr(second, name)])
            for name in ("images", "texts", "labels")
        )
    )
