"""The `cmgan_shapes` TFDS builder writes and reads back the generated pairs."""

import numpy as np
import tensorflow_datasets as tfds

from cmgan_tf.data import tfds_shapes  # noqa: F401  (registers the builder)
from cmgan_tf.data.demo import CLASS_NAMES, SPLIT_SEEDS, generate_shapes_split


def test_builder_round_trips_the_generated_pairs(tmp_path):
    builder = tfds.builder("cmgan_shapes/small", data_dir=str(tmp_path))
    builder.download_and_prepare()

    assert builder.info.splits["train"].num_examples == 400
    assert builder.info.splits["test"].num_examples == 200
    assert builder.info.features["label"].names == list(CLASS_NAMES)
    examples = list(tfds.as_numpy(builder.as_dataset(split="test")))
    # TFDS may reorder examples; match them to the generator's by caption
    # and image together.
    expected = generate_shapes_split(200, image_size=32, seed=SPLIT_SEEDS["test"])
    by_key = {
        (c, expected.images[i].tobytes()): int(expected.labels[i].argmax())
        for i, c in enumerate(expected.texts)
    }
    assert len(examples) == 200
    for example in examples:
        assert example["image"].shape == (32, 32, 3)
        assert example["image"].dtype == np.uint8
        key = (example["caption"].decode("utf-8"), example["image"].tobytes())
        assert by_key[key] == example["label"]
