"""A built-in image-caption dataset, generated from a seed: no download, no files.

Each image shows a large shape and a small distractor shape of another kind
and colour on a noisy, randomly tinted background; its caption names both
shapes, with synonyms, optional position phrases and either order. The class is
the large shape's (kind, colour). Neither modality gives the class away through
a trivial cue: the image's mean colour mixes both shapes and the background, and
every caption holds two colours and two kinds, so a bag of words cannot tell
which pair is the large one; only the word order around "large"/"small" can.
"""

import numpy as np

from cmgan_tf.data.dataset import CrossModalDataset, ImageCaptionSplit
from cmgan_tf.errors import InvalidInputError

SHAPES = ("circle", "square", "triangle", "diamond")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 200, 40),
}
CLASS_NAMES = tuple(f"{c} {s}" for s in SHAPES for c in COLOURS)

SHAPE_WORDS = {
    "circle": ("circle", "disc", "round blob"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge", "pyramid"),
    "diamond": ("diamond", "rhombus", "lozenge"),
}
COLOUR_WORDS = {
    "red": ("red", "crimson", "scarlet"),
    "green": ("green", "emerald", "lime"),
    "blue": ("blue", "azure", "navy"),
    "yellow": ("yellow", "golden", "amber"),
}
LARGE_WORDS = ("large", "big", "huge")
SMALL_WORDS = ("small", "tiny", "little")
_JOINERS = ("next to", "beside", "near", "and")
_OPENINGS = ("", "a picture of ", "there is ", "this image shows ")


def _mask(kind, size, centre, radius):
    """Boolean `(size, size)` mask of a shape centred at `centre` (row, column)."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    dy, dx = rows - centre[0], cols - centre[1]
    if kind == "circle":
        return dx**2 + dy**2 <= radius**2
    if kind == "square":
        side = radius * 0.85
        return (np.abs(dx) <= side) & (np.abs(dy) <= side)
    if kind == "diamond":
        return np.abs(dx) + np.abs(dy) <= radius * 1.2
    # Triangle pointing up: its half-width grows from the apex to the base.
    return (dy >= -radius) & (dy <= radius) & (np.abs(dx) <= (dy + radius) / 2)


def _position_phrase(centre, size):
    vertical = "top" if centre[0] < size / 2 else "bottom"
    horizontal = "left" if centre[1] < size / 2 else "right"
    return f"in the {vertical} {horizontal}"


def _caption(rng, large, small, centre, size):
    """A caption naming both shapes, the large one's class being the label."""

    def phrase(kind, colour, size_words):
        return " ".join(
            [
                "a",
                rng.choice(size_words),
                rng.choice(COLOUR_WORDS[colour]),
                rng.choice(SHAPE_WORDS[kind]),
            ]
        )

    large_phrase = phrase(*large, LARGE_WORDS)
    if rng.random() < 0.5:
        large_phrase += " " + _position_phrase(centre, size)
    small_phrase = phrase(*small, SMALL_WORDS)
    first, second = (
        (large_phrase, small_phrase)
        if rng.random() < 0.5
        else (small_phrase, large_phrase)
    )
    return f"{rng.choice(_OPENINGS)}{first} {rng.choice(_JOINERS)} {second}"


def _pair(rng, size):
    """One `(image, caption, class_index)` triple."""
    kinds = rng.choice(len(SHAPES), 2, replace=False)
    colours = rng.choice(len(COLOURS), 2, replace=False)
    names = list(COLOURS)
    large = (SHAPES[kinds[0]], names[colours[0]])
    small = (SHAPES[kinds[1]], names[colours[1]])

    # A tinted noisy background, so that no pixel value is a constant cue.
    tint = rng.uniform(60, 160, size=3)
    image = tint + rng.normal(0.0, 25.0, size=(size, size, 3))
    large_radius = rng.uniform(0.22, 0.3) * size
    small_radius = rng.uniform(0.09, 0.13) * size
    margin = large_radius + 1
    large_centre = rng.uniform(margin, size - margin, size=2)
    small_centre = rng.uniform(small_radius + 1, size - small_radius - 1, size=2)
    for (kind, colour), centre, radius in (
        (large, large_centre, large_radius),
        (small, small_centre, small_radius),
    ):
        shade = np.asarray(COLOURS[colour]) + rng.normal(0.0, 12.0, size=3)
        image[_mask(kind, size, centre, radius)] = shade
    image += rng.normal(0.0, 8.0, size=image.shape)
    caption = _caption(rng, large, small, large_centre, size)
    label = kinds[0] * len(COLOURS) + colours[0]
    return np.clip(image, 0, 255).astype(np.uint8), caption, label


def generate_shapes_split(num_pairs, *, image_size=32, seed=0):
    """Generates image-caption pairs of the shapes dataset.

    Args:
        num_pairs: Number of pairs.
        image_size: Side of the square RGB images, at least 16. Defaults to 32.
        seed: Seed; the same seed gives the same pairs. Defaults to 0.

    Returns:
        An `ImageCaptionSplit` with `len(CLASS_NAMES)` classes.

    Raises:
        InvalidInputError: for a non-positive `num_pairs` or a too small
            `image_size`.

    Example:
    >>> split = generate_shapes_split(4, image_size=16)
    >>> split.images.shape, split.labels.shape
    ((4, 16, 16, 3), (4, 16))
    """
    for name, value, low in (
        ("num_pairs", num_pairs, 1),
        ("image_size", image_size, 16),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInputError(
                f"`{name}` must be an integer of at least {low}. "
                f"Received: {name}={value!r}"
            )
    rng = np.random.default_rng(seed)
    images, captions, labels = zip(
        *(_pair(rng, image_size) for _ in range(num_pairs)), strict=True
    )
    return ImageCaptionSplit(
        images=np.stack(images),
        texts=np.asarray(captions, dtype=str),
        labels=np.eye(len(CLASS_NAMES), dtype=np.float32)[list(labels)],
    )


# Fixed per split, so that every run sees the same pairs and train and test
# never share a generator state. The TFDS builder uses the same seeds.
SPLIT_SEEDS = {"train": 1, "test": 2}


def load_shapes(*, train_pairs=4000, test_pairs=1000, image_size=32):
    """Returns the shapes dataset as a `CrossModalDataset` of raw pairs.

    Args:
        train_pairs: Number of training pairs. Defaults to 4000.
        test_pairs: Number of test pairs. Defaults to 1000.
        image_size: Side of the images. Defaults to 32.
    """
    return CrossModalDataset(
        "shapes",
        *(
            generate_shapes_split(count, image_size=image_size, seed=SPLIT_SEEDS[name])
            for name, count in (("train", train_pairs), ("test", test_pairs))
        ),
        multi_label=False,
        class_names=CLASS_NAMES,
    )
