"""Test set-up: two logical CPU devices, so MirroredStrategy has 2 real replicas."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

# Logical devices must be configured before TensorFlow initialises its runtime,
# which the first op does; conftest is imported before any test module.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)


import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cmgan_tf.data.dataset import CrossModalDataset, PairedSplit  # noqa: E402
from cmgan_tf.data.demo import CLASS_NAMES, generate_shapes_split  # noqa: E402
from cmgan_tf.presets import preset  # noqa: E402
from cmgan_tf.runs.model_dir import load_run  # noqa: E402
from cmgan_tf.runs.trainer import train  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Runs the scopes (modules, classes) that hold slow tests first.

    pytest-xdist's `loadscope` hands whole scopes to the workers in this
    order (`--no-loadscope-reorder` in pyproject.toml). Its default orders
    them by their number of tests, which put the one-test benchmark classes
    of a minute or more last, so one worker ran them while the other sat
    idle. Longest work first leaves the many quick tests to even out the end.
    """
    del config  # Unused; the hook's signature.

    def scope(item):
        return item.nodeid.rsplit("::", 1)[0]

    slow_scopes = {scope(item) for item in items if item.get_closest_marker("slow")}
    first_index = {}
    for index, item in enumerate(items):
        first_index.setdefault(scope(item), index)
    items.sort(
        key=lambda item: (scope(item) not in slow_scopes, first_index[scope(item)])
    )


def make_paired_split(num_pairs, num_classes=4, image_dim=12, text_dim=6, seed=0):
    """Returns a `PairedSplit` whose features carry their class, plus noise.

    Each class has a random centre per modality; an item is its centre plus
    Gaussian noise, so a model that learns anything retrieves well above chance
    (about 1 / num_classes).
    """
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1234)
    image_centres = centres.normal(size=(num_classes, image_dim))
    text_centres = centres.normal(size=(num_classes, text_dim))
    classes = np.arange(num_pairs) % num_classes
    rng.shuffle(classes)
    return PairedSplit(
        images=image_centres[classes] + 0.7 * rng.normal(size=(num_pairs, image_dim)),
        texts=text_centres[classes] + 0.7 * rng.normal(size=(num_pairs, text_dim)),
        labels=np.eye(num_classes)[classes],
    )


@pytest.fixture
def paired_split():
    return make_paired_split(96)


@pytest.fixture
def npz_dataset(tmp_path):
    """A synthetic dataset in the documented `.npz` layout; returns its path."""
    train, test = make_paired_split(256, seed=1), make_paired_split(96, seed=2)
    path = tmp_path / "synthetic.npz"
    np.savez(
        path,
        train_images=train.images,
        train_texts=train.texts,
        train_labels=train.labels.argmax(1),
        test_images=test.images,
        test_texts=test.texts,
        test_labels=test.labels.argmax(1),
    )
    return path


def _train(config, dataset):
    train(config, dataset=dataset)
    return load_run(config.runtime.model_dir)[1]


@pytest.fixture(scope="session")
def feature_run(tmp_path_factory):
    """`(model_dir, encoder)` of a short smoke run on the Wikipedia features."""
    model_dir = tmp_path_factory.mktemp("features") / "run"
    config = preset("smoke").replace(
        data={"dataset": "wikipedia_classic"},
        training={"epochs": 2},
        runtime={"model_dir": str(model_dir)},
    )
    train(config)
    return model_dir, load_run(model_dir)[1]


@pytest.fixture(scope="session")
def raw_training(tmp_path_factory):
    """`(model_dir, encoder, test split)` of a run on small raw shape images."""
    dataset = CrossModalDataset(
        "shapes",
        generate_shapes_split(256, image_size=16, seed=1),
        generate_shapes_split(48, image_size=16, seed=2),
        multi_label=False,
        class_names=CLASS_NAMES,
    )
    config = preset("smoke").replace(
        data={"dataset": "shapes"},
        model={
            "image_filters": (8,),
            "image_trunk_units": 16,
            "vocabulary_size": 60,
            "sequence_length": 12,
            "embedding_dim": 8,
            "text_filters": 4,
        },
        training={"epochs": 1, "batch_size": 32},
        runtime={"model_dir": str(tmp_path_factory.mktemp("raw") / "run")},
    )
    return config.runtime.model_dir, _train(config, dataset), dataset.test


@pytest.fixture(scope="session")
def raw_run(raw_training):
    """`(encoder, test split)` trained on small raw shape images and captions."""
    return raw_training[1:]
