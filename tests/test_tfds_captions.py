"""Prepared TFDS datasets as image-caption pairs: keys, labels and bad input."""

import json
import logging
import os
import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cmgan_tf.config import ExperimentConfig
from cmgan_tf.data import load_dataset
from cmgan_tf.data.dataset import ImageCaptionSplit, ImageFileSplit
from cmgan_tf.data.demo import CLASS_NAMES
from cmgan_tf.data.tfds_captions import CACHE_MANIFEST, load_tfds_captions
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.runs.trainer import prepare_data

COLOURS = {"red": (200, 0, 0), "green": (0, 150, 0), "blue": (0, 0, 250)}

# (colour, captions, object labels) per item; captions name the item so that
# tests can find it whatever order TFDS stores the items in.
ITEMS = {
    "train": [
        ("red", ["red cat", "a second caption"], ["cat"]),
        ("green", ["green pair", "other"], ["car", "cat", "car"]),
        ("blue", ["blue nothing"], []),
        ("blue", ["blue dog"], ["dog"]),
    ],
    "test": [
        ("green", ["green dog and cat"], ["dog", "cat"]),
        ("red", ["red car"], ["car"]),
    ],
}
# What each configuration changes in the train split.
BROKEN_TRAIN = {
    "no_caption": [("red", [], ["cat"])],
    "empty_caption": [("red", ["fine"], ["cat"]), ("red", ["  "], ["cat"])],
    "non_utf8_caption": [("red", [b"bad \xff byte"], ["cat"])],
    "unlabelled": [("red", ["a"], []), ("blue", ["b"], [])],
}


class TinyCaptions(tfds.core.GeneratorBasedBuilder):
    """A few items in the nested layout of `coco_captions`, made up here."""

    VERSION = tfds.core.Version("1.0.0")
    # "gray" writes grayscale images; the names of BROKEN_TRAIN write a broken
    # train split.
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name=name)
        for name in ("default", "gray", *BROKEN_TRAIN)
    ]

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, self._channels)),
                    "image/id": np.int64,
                    # A string Tensor, not Text, as in coco_captions.
                    "captions": tfds.features.Sequence(
                        {"id": np.int64, "text": np.str_}
                    ),
                    "objects": tfds.features.Sequence(
                        {
                            "area": np.int64,
                            "label": tfds.features.ClassLabel(
                                names=["cat", "dog", "car"]
                            ),
                        }
                    ),
                }
            ),
        )

    @property
    def _channels(self):
        return 1 if self.builder_config.name == "gray" else 3

    def _split_generators(self, dl_manager):
        train = BROKEN_TRAIN.get(self.builder_config.name, ITEMS["train"])
        return {
            "train": self._generate_examples(train),
            "test": self._generate_examples(ITEMS["test"]),
        }

    def _generate_examples(self, items):
        for index, (colour, captions, labels) in enumerate(items):
            # Images of different sizes, as in coco_captions.
            image = np.empty((6 + index, 9, self._channels), np.uint8)
            image[...] = COLOURS[colour][: self._channels]
            yield (
                index,
                {
                    "image": image,
                    "image/id": index,
                    "captions": {"id": list(range(len(captions))), "text": captions},
                    "objects": {"area": [1] * len(labels), "label": labels},
                },
            )


NESTED_KEYS = {"caption_key": "captions/text", "label_key": "objects/label"}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """A TFDS data directory with `cmgan_shapes/small` and `tiny_captions`."""
    data_dir = str(tmp_path_factory.mktemp("tensorflow_datasets"))
    tfds.builder("cmgan_shapes/small", data_dir=data_dir).download_and_prepare()
    for config in TinyCaptions.BUILDER_CONFIGS:
        TinyCaptions(config=config.name, data_dir=data_dir).download_and_prepare()
    return data_dir


def _by_caption(split):
    return {
        str(text): (image, labels)
        for text, image, labels in zip(
            split.texts, split.images, split.labels, strict=True
        )
    }


def test_a_scalar_class_label_gives_single_label_pairs(tfds_dir):
    data = load_dataset(
        "tfds",
        tfds_dir,
        image_size=32,
        tfds_options={"tfds_name": "cmgan_shapes/small"},
    )
    assert data.name == "cmgan_shapes/small"
    assert not data.multi_label
    assert data.class_names == CLASS_NAMES
    assert (data.train.num_pairs, data.test.num_pairs) == (400, 200)
    # At the stored size, pixels, captions and one-hot labels are the stored ones.
    stored = tfds.as_numpy(
        tfds.builder("cmgan_shapes/small", data_dir=tfds_dir).as_dataset(split="test")
    )
    loaded = _by_caption(data.test)
    for example in stored:
        image, labels = loaded[example["caption"].decode("utf-8")]
        np.testing.assert_array_equal(image, example["image"])
        np.testing.assert_array_equal(labels, np.eye(16)[example["label"]])


def test_images_are_resized(tfds_dir):
    data = load_dataset(
        "tfds", tfds_dir, image_size=8, tfds_options={"tfds_name": "cmgan_shapes/small"}
    )
    assert data.train.images.shape == (400, 8, 8, 3)
    assert data.test.images.dtype == np.uint8


def test_nested_keys_first_caption_and_multi_hot_labels(tfds_dir, caplog):
    # absl sets its own logger's level when flags are parsed (other tests do).
    with caplog.at_level(logging.INFO, logger="absl"):
        data = load_tfds_captions(
            tfds_dir, tfds_name="tiny_captions", image_size=4, **NESTED_KEYS
        )
    assert data.multi_label
    assert data.class_names == ("cat", "dog", "car")
    train = _by_caption(data.train)
    # The item without objects is dropped; each class counts once.
    assert sorted(train) == ["blue dog", "green pair", "red cat"]
    np.testing.assert_array_equal(train["red cat"][1], [1, 0, 0])
    np.testing.assert_array_equal(train["green pair"][1], [1, 0, 1])
    np.testing.assert_array_equal(train["blue dog"][1], [0, 1, 0])
    # A uniform image stays uniform when resized from 6-9 x 9 pixels.
    np.testing.assert_array_equal(
        train["red cat"][0], np.broadcast_to(COLOURS["red"], (4, 4, 3))
    )
    test = _by_caption(data.test)
    np.testing.assert_array_equal(test["green dog and cat"][1], [1, 1, 0])
    assert "dropped 1 of 4 items that have no label in 'objects/label'" in caplog.text


def test_grayscale_images_become_rgb(tfds_dir):
    data = load_tfds_captions(
        tfds_dir, tfds_name="tiny_captions/gray", image_size=4, **NESTED_KEYS
    )
    red_cat = _by_caption(data.train)["red cat"][0]
    # The red channel of (200, 0, 0) is the gray value, in all three channels.
    np.testing.assert_array_equal(red_cat, np.full((4, 4, 3), 200))


@pytest.mark.parametrize(
    ("options", "messages"),
    [
        (
            {"tfds_name": "no_such_dataset_xyz"},
            ["'no_such_dataset_xyz' is not registered"],
        ),
        (
            {"image_key": "picture"},
            [
                "has no feature 'picture' (`tfds_image_key`)",
                "Available keys: image, image/id, captions/id, captions/text, "
                "objects/area, objects/label.",
            ],
        ),
        (
            {"caption_key": "image"},
            [
                "'image' of TFDS dataset 'tiny_captions' (`tfds_caption_key`) has "
                "type Image; expected a string (Text or string Tensor) or a "
                "Sequence of strings."
            ],
        ),
        (
            {"label_key": "objects/area"},
            [
                "has type Sequence of Tensor of int64; expected ClassLabel or "
                "Sequence of ClassLabel."
            ],
        ),
        (
            {"test_split": "validation"},
            [
                "has no split 'validation' (`tfds_test_split`)",
                "Available splits: train, test.",
            ],
        ),
        (
            {"tfds_name": "tiny_captions/no_caption"},
            ["split 'train', 'captions/text': `texts[0]` is empty"],
        ),
        (
            {"tfds_name": "tiny_captions/empty_caption"},
            ["split 'train', 'captions/text': `texts[1]` is empty"],
        ),
        (
            {"tfds_name": "tiny_captions/non_utf8_caption"},
            ["`texts[0]` is not valid UTF-8"],
        ),
        (
            {"tfds_name": "tiny_captions/unlabelled"},
            ["split 'train': none of its 2 items has a label in 'objects/label'"],
        ),
    ],
)
def test_bad_input_is_named(tfds_dir, options, messages):
    kwargs = {"tfds_name": "tiny_captions", **NESTED_KEYS, **options}
    with pytest.raises(InvalidInputError) as error:
        load_tfds_captions(tfds_dir, **kwargs)
    for message in messages:
        assert message in str(error.value)


def test_a_dataset_not_prepared_says_how_to_prepare_it(tmp_path):
    with pytest.raises(InvalidInputError) as error:
        load_tfds_captions(tmp_path, tfds_name="cmgan_shapes/small")
    message = str(error.value)
    assert "'cmgan_shapes/small' is not prepared" in message
    assert (
        f"tfds build cmgan_shapes/small --data_dir={tmp_path} "
        "--imports=cmgan_tf.data.tfds_shapes"
    ) in message
    assert (
        "import cmgan_tf.data.tfds_shapes; tfds.builder('cmgan_shapes/small', "
        f"data_dir={str(tmp_path)!r}).download_and_prepare()"
    ) in message
    # Nothing was generated behind the user's back.
    assert not list(tmp_path.iterdir())


def test_registry_pairs_tfds_options_with_the_tfds_dataset():
    with pytest.raises(InvalidInputError, match="go with dataset 'tfds' and only"):
        load_dataset("tfds")
    with pytest.raises(InvalidInputError, match="go with dataset 'tfds' and only"):
        load_dataset("shapes", tfds_options={"tfds_name": "cmgan_shapes"})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dataset": "tfds"}, "Dataset 'tfds' needs `tfds_name`"),
        (
            {"tfds_name": "coco_captions"},
            "apply to dataset 'tfds' only. Received: dataset='wikipedia_classic', "
            "tfds_name='coco_captions'",
        ),
        (
            {"dataset": "tfds", "tfds_name": "coco_captions", "tfds_caption_key": ""},
            "`tfds_caption_key` must be a non-empty string",
        ),
    ],
)
def test_config_rejects_tfds_fields_that_make_no_sense(fields, message):
    with pytest.raises(InvalidInputError, match=message):
        ExperimentConfig().replace(data=fields)


def test_prepare_data_passes_the_tfds_fields(tfds_dir):
    config = ExperimentConfig().replace(
        data={
            "dataset": "tfds",
            "data_dir": tfds_dir,
            "image_size": 4,
            "tfds_name": "tiny_captions",
            "tfds_caption_key": "captions/text",
            "tfds_label_key": "objects/label",
            "tfds_train_split": "test",
            "validation_fraction": 0.5,
        }
    )
    dataset, train, validation = prepare_data(config)
    # Both splits are the two test items: the split fields reached the loader.
    assert dataset.train.num_pairs == dataset.test.num_pairs == 2
    assert dataset.multi_label
    assert train.image_shape == (4, 4, 3)
    # Training streams its images from the cache; validation is decoded.
    assert isinstance(train, ImageFileSplit)
    assert isinstance(validation, ImageCaptionSplit)
    assert validation.images.shape == (1, 4, 4, 3)


def test_the_training_split_streams_from_a_cache_copied_once(tmp_path, tfds_dir):
    cache = tmp_path / "cache"
    options = {"tfds_name": "tiny_captions", "image_size": 4, **NESTED_KEYS}
    data = load_tfds_captions(tfds_dir, cache_dir=str(cache), **options)
    assert isinstance(data.train, ImageFileSplit)
    assert isinstance(data.test, ImageCaptionSplit)
    (directory,) = cache.iterdir()
    # The images are the stored PNG files, copied as they are.
    assert all(path.startswith(str(directory)) for path in data.train.paths)
    assert {pathlib.Path(p).suffix for p in data.train.paths} == {".png"}
    modified = {p: os.stat(p).st_mtime_ns for p in data.train.paths}

    again = load_tfds_captions(tfds_dir, cache_dir=str(cache), **options)
    assert {p: os.stat(p).st_mtime_ns for p in again.train.paths} == modified
    np.testing.assert_array_equal(again.train.texts, data.train.texts)
    np.testing.assert_array_equal(again.train.labels, data.train.labels)


def test_a_stale_or_damaged_cache_is_rebuilt(tmp_path, tfds_dir, caplog):
    cache = tmp_path / "cache"
    options = {"tfds_name": "tiny_captions", "image_size": 4, **NESTED_KEYS}
    expected = _by_caption(
        load_tfds_captions(tfds_dir, cache_dir=str(cache), **options).train
    )
    (directory,) = cache.iterdir()
    manifest = directory / CACHE_MANIFEST
    stale = json.loads(manifest.read_text())
    stale["source"]["num_examples"] += 1
    manifest.write_text(json.dumps(stale))
    with caplog.at_level(logging.WARNING, logger="absl"):
        rebuilt = load_tfds_captions(tfds_dir, cache_dir=str(cache), **options)
    assert "was copied from" in caplog.text and "rebuilding it" in caplog.text
    assert json.loads(manifest.read_text())["source"]["num_examples"] == 4
    (directory / "pairs.npz").write_bytes(b"not an npz")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="absl"):
        rebuilt = load_tfds_captions(tfds_dir, cache_dir=str(cache), **options)
    assert "is damaged" in caplog.text
    got = _by_caption(rebuilt.train)
    assert sorted(got) == sorted(expected)
    for caption, (image, labels) in expected.items():
        np.testing.assert_array_equal(got[caption][0], image)
        np.testing.assert_array_equal(got[caption][1], labels)


def test_a_cache_directory_that_cannot_be_written_is_one_line(tmp_path, tfds_dir):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InvalidInputError, match=r"Cannot create the TFDS image cache"):
        load_tfds_captions(
            tfds_dir,
            tfds_name="tiny_captions",
            cache_dir=str(blocker / "cache"),
            **NESTED_KEYS,
        )


def test_a_broken_split_leaves_no_cache(tmp_path, tfds_dir):
    cache = tmp_path / "cache"
    with pytest.raises(InvalidInputError, match="is empty"):
        load_tfds_captions(
            tfds_dir,
            tfds_name="tiny_captions/empty_caption",
            cache_dir=str(cache),
            **NESTED_KEYS,
        )
    assert not list(cache.iterdir())
