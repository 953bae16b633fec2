"""Training on image files: decoded as the batches are formed, never all at once."""

import dataclasses
import re

import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.data.dataset import ImageFileSplit
from cmgan_tf.data.image_captions import load_image_captions
from cmgan_tf.data.pipeline import (
    SkippedImages,
    training_dataset,
    training_stream,
    undecoded_image_error,
)
from cmgan_tf.errors import InvalidInputError

NUM_PAIRS = 12


def _write_folder(directory, num_pairs=NUM_PAIRS, broken=()):
    """Writes `num_pairs` distinct PNGs (rows in `broken` damaged) and tables."""
    rng = np.random.default_rng(0)
    (directory / "images").mkdir(parents=True)
    lines = []
    for row in range(num_pairs):
        path = directory / "images" / f"{row:03d}.png"
        if row in broken:
            path.write_bytes(b"\x89PNG\r\n damaged")
        else:
            pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
            path.write_bytes(tf.io.encode_png(pixels).numpy())
        lines.append(
            f"images/{path.name}\t{'odd' if row % 2 else 'even'}\tpair {row}\n"
        )
    (directory / "train.tsv").write_text("".join(lines))
    (directory / "test.tsv").write_text(lines[0])
    return directory


@pytest.fixture
def train_split(tmp_path):
    return load_image_captions(_write_folder(tmp_path), image_size=8).train


def _batches(dataset):
    return [{key: value.numpy() for key, value in batch.items()} for batch in dataset]


def test_the_training_split_holds_paths_and_batches_decode_them(train_split):
    assert isinstance(train_split, ImageFileSplit)
    fields = {field.name for field in dataclasses.fields(train_split)}
    assert fields == {"paths", "texts", "labels", "image_size"}
    assert train_split.paths.dtype.kind == "U"

    streamed = _batches(training_dataset(train_split, 4, seed=3))
    in_memory = _batches(training_dataset(train_split.load(), 4, seed=3))
    assert len(streamed) == NUM_PAIRS // 4
    for got, expected in zip(streamed, in_memory, strict=True):
        assert set(got) == {"image", "text", "labels"}
        for key in got:
            np.testing.assert_array_equal(got[key], expected[key])
    # Each image is its own file's, decoded directly, beside its caption.
    rows = {text: row for row, text in enumerate(train_split.texts)}
    for batch in streamed:
        for image, text in zip(batch["image"], batch["text"], strict=True):
            np.testing.assert_array_equal(
                image, train_split.images[rows[text.decode()]]
            )


def test_epochs_are_reshuffled_the_same_way_every_time(train_split):
    def epochs(dataset, count):
        iterator = iter(dataset)
        return [
            [next(iterator)["text"].numpy().tolist() for _ in range(3)]
            for _ in range(count)
        ]

    first = epochs(training_stream(train_split, 4, seed=5), 3)
    assert first == epochs(training_stream(train_split, 4, seed=5), 3)
    assert first[0] != first[1]
    # A run resumed after an epoch sees the batches of the uninterrupted run.
    assert (
        epochs(training_stream(train_split, 4, seed=5, initial_epoch=1), 2) == first[1:]
    )
    # Each epoch of the stream is an iteration of the one-epoch dataset.
    single = training_dataset(train_split, 4, seed=5)
    assert [[b["text"].tolist() for b in _batches(single)] for _ in range(3)] == first


def test_a_damaged_image_fails_naming_the_file(tmp_path):
    split = load_image_captions(
        _write_folder(tmp_path, broken=(7,)), image_size=8
    ).train
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        _batches(training_dataset(split, 4, seed=0))
    error = undecoded_image_error(caught.value)
    assert isinstance(error, InvalidInputError)
    assert str(tmp_path / "images" / "007.png") in str(error)
    assert "--on_bad_item=skip" in str(error)
    assert (
        undecoded_image_error(tf.errors.InvalidArgumentError(None, None, "x")) is None
    )


def test_skip_leaves_damaged_images_out_and_counts_them(tmp_path):
    split = load_image_captions(
        _write_folder(tmp_path, broken=(2, 9)), image_size=8
    ).train
    skipped = SkippedImages()
    assert skipped.summary() is None
    # The batches follow on across the places of the damaged images.
    batches = _batches(
        training_dataset(split, 2, seed=1, on_bad_item="skip", skipped=skipped)
    )
    assert len(batches) == (NUM_PAIRS - 2) // 2
    assert int(skipped.count.numpy()) == 2
    texts = {t.decode() for batch in batches for t in batch["text"]}
    assert texts == {f"pair {row}" for row in range(NUM_PAIRS)} - {"pair 2", "pair 9"}
    assert "Left out 2 training images" in skipped.summary()
    assert skipped.last_path.numpy().decode().endswith(("002.png", "009.png"))
    with pytest.raises(InvalidInputError, match="needs `skipped`"):
        training_dataset(split, 2, seed=1, on_bad_item="skip")


_TRAIN_ARGS = (
    "--preset=smoke",
    "--dataset=image_captions",
    "--image_size=8",
    "--image_filters=4",
    "--image_trunk_units=8",
    "--batch_size=4",
    "--epochs=1",
    "--verbose=0",
)


@pytest.mark.slow
def test_training_on_a_damaged_image_fails_naming_it_or_skips_it(tmp_path, caplog):
    from cmgan_tf.data.splits import train_validation_split
    from cmgan_tf.presets import preset
    from tests.cli_utils import run_main

    folder = _write_folder(tmp_path / "data", num_pairs=20)
    fit, validation = train_validation_split(
        load_image_captions(folder, image_size=8).train,
        preset("smoke").data.validation_fraction,
        preset("smoke").training.seed,
    )
    # Not the first image, which the test split also holds.
    in_fit, in_validation = fit.paths[-1], validation.paths[-1]
    args = (*_TRAIN_ARGS, f"--data_dir={folder}")

    with open(in_fit, "wb") as damaged:
        damaged.write(b"\x89PNG\r\n damaged")
    message = run_main("pipelines.train", *args, f"--model_dir={tmp_path / 'a'}")
    assert message.startswith(
        f"cmgan-train: error: Could not decode the training image {in_fit} "
    )
    assert "\n" not in message

    with open(in_validation, "wb") as damaged:
        damaged.write(b"not an image")
    message = run_main(
        "pipelines.train", *args, "--on_bad_item=skip", f"--model_dir={tmp_path / 'b'}"
    )
    assert message is None
    assert (tmp_path / "b" / "encoder.keras").exists()
    # Counted as the stream decodes, which may run into the next epoch.
    assert re.search("Left out [12] training images that could not be", caplog.text)
    assert "Left out 1 of 4 pairs whose images could not be decoded" in caplog.text


@pytest.mark.slow
def test_a_run_interrupted_after_an_epoch_resumes_to_the_same_result(
    tmp_path, monkeypatch
):
    import keras

    from cmgan_tf.presets import preset
    from cmgan_tf.runs import trainer

    folder = _write_folder(tmp_path / "data", num_pairs=20)
    config = preset("smoke").replace(
        data={"dataset": "image_captions", "data_dir": str(folder), "image_size": 8},
        model={"image_trunk": {"filters": (4,), "units": 8}, "image_dropout": 0.3},
        training={"epochs": 3, "batch_size": 4},
    )

    def run(name):
        return trainer.train(
            config.replace(runtime={"model_dir": str(tmp_path / name)})
        )

    expected = run("uninterrupted")

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    callbacks = trainer.TrainingRun._callbacks
    with monkeypatch.context() as patch:
        patch.setattr(
            trainer.TrainingRun,
            "_callbacks",
            lambda self: [*callbacks(self), Interrupt()],
        )
        with pytest.raises(KeyboardInterrupt):
            run("interrupted")
    resumed = run("interrupted")
    assert resumed["resumed_after_epoch"] == 2
    # Same batches after the resume (decoded from the files again): the same
    # numbers, exactly.
    assert resumed["history"] == expected["history"]
    assert resumed["validation"] == expected["validation"]
