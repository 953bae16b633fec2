"""`ImageCaptionSplit`: what raw pairs are accepted, converted or rejected."""

import numpy as np
import pytest

from cmgan_tf.data import ImageCaptionSplit, train_validation_split
from cmgan_tf.errors import InvalidInputError


def _split(images=None, texts=None, labels=None):
    return ImageCaptionSplit(
        images=np.zeros((2, 8, 8, 3), np.uint8) if images is None else images,
        texts=["a red box", "a blue disc"] if texts is None else texts,
        labels=np.eye(2) if labels is None else labels,
    )


@pytest.mark.parametrize("shape", [(2, 8, 8), (2, 8, 8, 1)])
def test_grayscale_images_become_rgb(shape):
    gray = np.arange(np.prod(shape)).reshape(shape) % 256
    split = _split(images=gray.astype(np.uint8))
    assert split.images.shape == (2, 8, 8, 3)
    for channel in range(3):
        np.testing.assert_array_equal(split.images[..., channel], gray.reshape(2, 8, 8))


def test_float_pixels_are_rounded_to_uint8():
    pixels = np.full((2, 8, 8, 3), 254.6)
    split = _split(images=pixels)
    assert split.images.dtype == np.uint8 and (split.images == 255).all()


def test_the_split_freezes_a_copy_not_the_callers_arrays():
    images = np.zeros((2, 8, 8, 3), np.uint8)
    split = _split(images=images)
    images[0, 0, 0, 0] = 7
    assert split.images[0, 0, 0, 0] == 0
    assert not split.images.flags.writeable


def test_utf8_bytes_are_decoded_and_arrays_are_read_only():
    split = _split(texts=[b"caf\xc3\xa9 au lait", "tea"])
    assert split.texts[0] == "café au lait"
    assert split.num_pairs == 2 and split.num_classes == 2
    with pytest.raises(ValueError):
        split.images[0, 0, 0, 0] = 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"images": np.zeros((2, 8, 8, 4), np.uint8)}, "4 channels"),
        ({"images": np.zeros((2, 8), np.uint8)}, "shape \\(2, 8\\)"),
        ({"images": np.zeros((2, 1, 8, 8, 3), np.uint8)}, "Received shape"),
        ({"images": np.full((2, 8, 8, 3), np.nan)}, "NaN or Inf"),
        ({"images": np.full((2, 8, 8, 3), 300.0)}, "\\[0, 255\\]"),
        ({"images": np.full((2, 8, 8, 3), "x")}, "numeric pixels"),
        ({"texts": ["a red box", ""]}, "`texts\\[1\\]` is empty"),
        ({"texts": ["   ", "tea"]}, "`texts\\[0\\]` is empty"),
        ({"texts": ["tea", b"\xff\xfe bad"]}, "`texts\\[1\\]` is not valid UTF-8"),
        ({"texts": ["tea", 3]}, "`texts\\[1\\]` must be a str"),
        ({"texts": ["only one"]}, "1 texts"),
        ({"labels": np.array([[1.0, 0.0], [0.0, 0.0]])}, "first in row 1"),
        ({"labels": np.array([[2.0, 0.0], [0.0, 1.0]])}, "only 0 and 1"),
        (
            {
                "images": np.zeros((0, 8, 8, 3), np.uint8),
                "texts": [],
                "labels": np.zeros((0, 2)),
            },
            "at least one pair",
        ),
    ],
)
def test_bad_pairs_are_rejected_with_the_problem_named(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        _split(**kwargs)


def test_validation_split_keeps_raw_pairs_together():
    images = np.arange(10 * 8 * 8 * 3).reshape(10, 8, 8, 3) % 256
    texts = [f"caption {i}" for i in range(10)]
    labels = np.eye(2)[[0, 1] * 5]
    split = ImageCaptionSplit(images.astype(np.uint8), texts, labels)
    train, validation = train_validation_split(split, 0.2, seed=0)
    assert isinstance(train, ImageCaptionSplit)
    assert (train.num_pairs, validation.num_pairs) == (8, 2)
    for part in (train, validation):
        for image, text in zip(part.images, part.texts, strict=True):
            index = int(text.split()[1])
            np.testing.assert_array_equal(image, split.images[index])
    assert {*train.texts, *validation.texts} == set(texts)


def test_shapes_dataset_is_registered_and_has_no_files():
    from cmgan_tf.data import load_dataset

    with pytest.raises(InvalidInputError, match="generated, not read"):
        load_dataset("shapes", "/some/dir")


def test_a_raw_dataset_has_shapes_not_feature_dims():
    from cmgan_tf.data import CrossModalDataset

    data = CrossModalDataset("pairs", _split(), _split(), multi_label=False)
    assert data.image_shape == (8, 8, 3) and data.text_shape == ()
    for modality in ("image", "text"):
        with pytest.raises(InvalidInputError, match=f"use `{modality}_shape`"):
            getattr(data, f"{modality}_dim")
