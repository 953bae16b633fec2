"""The generated shapes dataset: deterministic, correctly labelled, no trivial cue."""

import numpy as np
import pytest

from cmgan_tf.data.demo import (
    CLASS_NAMES,
    COLOUR_WORDS,
    COLOURS,
    LARGE_WORDS,
    SHAPE_WORDS,
    SHAPES,
    generate_shapes_split,
)
from cmgan_tf.errors import InvalidInputError


@pytest.fixture(scope="module")
def split():
    return generate_shapes_split(800, image_size=32, seed=5)


def _class_of(colour, kind):
    return CLASS_NAMES.index(f"{colour} {kind}")


def _lookup(table):
    return {w: key for key, words in table.items() for w in words}


def test_same_seed_same_pairs_other_seed_other_pairs():
    a, b = generate_shapes_split(20, seed=3), generate_shapes_split(20, seed=3)
    c = generate_shapes_split(20, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert list(a.texts) == list(b.texts)
    assert not np.array_equal(a.images, c.images)
    assert list(a.texts) != list(c.texts)


def test_shapes_dtypes_and_every_class_present(split):
    assert split.images.shape == (800, 32, 32, 3) and split.images.dtype == np.uint8
    assert split.texts.shape == (800,) and split.texts.dtype.kind == "U"
    assert split.labels.shape == (800, len(CLASS_NAMES))
    np.testing.assert_array_equal(split.labels.sum(1), 1.0)
    assert set(split.labels.argmax(1)) == set(range(len(CLASS_NAMES)))
    assert split.num_pairs == 800


def test_label_is_the_class_of_the_captions_large_shape(split):
    colours, kinds = _lookup(COLOUR_WORDS), _lookup(SHAPE_WORDS)
    for caption, label in zip(split.texts, split.labels.argmax(1), strict=True):
        words = caption.replace("round blob", "round_blob").split()
        start = next(i for i, w in enumerate(words) if w in LARGE_WORDS)
        colour = colours[words[start + 1]]
        kind = kinds[words[start + 2].replace("round_blob", "round blob")]
        assert _class_of(colour, kind) == label, caption


def test_label_colour_covers_most_of_the_image_among_the_palette(split):
    palette = np.asarray(list(COLOURS.values()), np.float32)
    pixels = split.images.reshape(len(split.images), -1, 3).astype(np.float32)
    distances = np.linalg.norm(pixels[:, :, None, :] - palette, axis=-1)
    near = (distances < 50).sum(axis=1)  # (n, colours): pixels close to each
    label_colour = split.labels.argmax(1) % len(COLOURS)
    agreement = (near.argmax(1) == label_colour).mean()
    assert agreement > 0.95, agreement


def test_mean_colour_does_not_give_the_class_away(split):
    features = split.images.reshape(len(split.images), -1, 3).mean(1)
    labels = split.labels.argmax(1)
    train, test = slice(0, 600), slice(600, None)
    centroids = np.stack(
        [features[train][labels[train] == k].mean(0) for k in range(len(CLASS_NAMES))]
    )
    predicted = np.argmin(((features[test][:, None] - centroids) ** 2).sum(-1), axis=1)
    # Chance is 1/16; a decisive cue would approach 1.
    assert (predicted == labels[test]).mean() < 0.3


def test_every_caption_names_two_colours_and_two_kinds(split):
    # So a bag of words cannot tell which shape is the large one.
    colours, kinds = _lookup(COLOUR_WORDS), _lookup(SHAPE_WORDS)
    for caption in split.texts:
        words = caption.replace("round blob", "round_blob").split()
        named_colours = {colours[w] for w in words if w in colours}
        named_kinds = {
            kinds[w.replace("_", " ")] for w in words if w.replace("_", " ") in kinds
        }
        assert len(named_colours) == 2 and len(named_kinds) == 2, caption
    assert len(SHAPES) * len(COLOURS) == len(CLASS_NAMES)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_pairs": 0}, "num_pairs"),
        ({"num_pairs": 2.5}, "num_pairs"),
        ({"num_pairs": True}, "num_pairs"),
        ({"num_pairs": 4, "image_size": 8}, "image_size"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(InvalidInputError, match=f"`{name}`"):
        generate_shapes_split(**kwargs)
