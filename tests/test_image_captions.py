"""Image files and a caption table: loading, resizing and every bad input."""

import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.data import load_dataset
from cmgan_tf.data.dataset import ImageFileSplit
from cmgan_tf.data.image_captions import load_image_captions
from cmgan_tf.errors import InvalidInputError


def _write_image(path, pixels, fmt="png"):
    path.parent.mkdir(parents=True, exist_ok=True)
    encode = tf.io.encode_png if fmt == "png" else tf.io.encode_jpeg
    path.write_bytes(encode(tf.constant(pixels, tf.uint8)).numpy())


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    red = np.zeros((20, 30, 3), np.uint8)
    red[..., 0] = 200
    _write_image(tmp_path / "images" / "red.png", red)
    _write_image(tmp_path / "images" / "gray.png", np.full((10, 10, 1), 90, np.uint8))
    _write_image(
        tmp_path / "images" / "noise.jpg",
        rng.integers(0, 255, (16, 16, 3)),
        fmt="jpeg",
    )
    (tmp_path / "train.tsv").write_text(
        "images/red.png\tred\ta red square\n"
        "\n"
        "images/gray.png\tgray\ta gray field\n"
        "images/noise.jpg\tred,gray\tcafé noise\n",
        encoding="utf-8",
    )
    (tmp_path / "test.tsv").write_text(
        "images/red.png\tred\tsomething red\n", encoding="utf-8"
    )
    return tmp_path


def test_loads_resizes_and_labels_the_pairs(folder):
    data = load_image_captions(folder, image_size=8)
    assert data.class_names == ("gray", "red")
    assert data.multi_label
    train = data.train
    assert train.images.shape == (3, 8, 8, 3) and train.images.dtype == np.uint8
    assert list(train.texts) == ["a red square", "a gray field", "café noise"]
    np.testing.assert_array_equal(train.labels, [[0, 1], [1, 0], [1, 1]])
    # Resizing keeps a uniform colour; grayscale becomes three equal channels.
    np.testing.assert_array_equal(
        train.images[0], np.broadcast_to([200, 0, 0], (8, 8, 3))
    )
    np.testing.assert_array_equal(train.images[1], np.full((8, 8, 3), 90))
    assert data.test.num_pairs == 1


def test_registry_passes_the_image_size(folder):
    assert load_dataset(
        "image_captions", str(folder), image_size=5
    ).train.image_shape == (
        5,
        5,
        3,
    )
    with pytest.raises(InvalidInputError, match="needs `data_dir`"):
        load_dataset("image_captions")


@pytest.mark.parametrize(
    "train_table, message",
    [
        ("images/red.png\tred\n", "line 1: expected 3 tab-separated fields"),
        ("images/red.png\tred\t   \n", "line 1: empty caption"),
        ("images/red.png\t\ta caption\n", "line 1: empty labels"),
        ("images/none.png\tred\ta caption\n", "line 1: image not found"),
        ("\n\n", "holds no pairs"),
    ],
)
def test_bad_tables_and_images_are_named(folder, train_table, message):
    (folder / "images" / "broken.png").write_bytes(b"\x89PNG\r\n not really")
    (folder / "train.tsv").write_text(train_table, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=message):
        load_image_captions(folder)


def test_damaged_images_are_named_when_decoded(folder):
    (folder / "images" / "broken.png").write_bytes(b"\x89PNG\r\n not really")
    (folder / "train.tsv").write_text("images/broken.png\tred\ta caption\n")
    # Training images are only decoded as training streams them.
    train = load_image_captions(folder).train
    assert isinstance(train, ImageFileSplit)
    with pytest.raises(InvalidInputError, match="could not decode .*broken.png"):
        train.load()
    (folder / "test.tsv").write_text("images/broken.png\tred\ta caption\n")
    with pytest.raises(InvalidInputError, match="test.tsv, line 1: could not decode"):
        load_image_captions(folder)


def test_non_utf8_table_names_the_line(folder):
    (folder / "train.tsv").write_bytes(
        b"images/red.png\tred\tfine\nimages/red.png\tred\tbad \xff byte\n"
    )
    with pytest.raises(InvalidInputError, match="train.tsv, line 2: not valid UTF-8"):
        load_image_captions(folder)


def test_unknown_test_label_is_named(folder):
    (folder / "test.tsv").write_text("images/red.png\tblue\ta blue thing\n")
    with pytest.raises(InvalidInputError, match=r"labels \['blue'\]"):
        load_image_captions(folder)


def test_missing_table_and_directory(folder, tmp_path):
    (folder / "test.tsv").unlink()
    with pytest.raises(InvalidInputError, match="test.tsv"):
        load_image_captions(folder)
    with pytest.raises(InvalidInputError, match="Data directory not found"):
        load_image_captions(tmp_path / "absent")
