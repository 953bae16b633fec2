"""Keras Applications image trunks and pretrained word vectors, from local files."""

import keras
import numpy as np
import pytest

from cmgan_tf.config import ExperimentConfig
from cmgan_tf.data.word_vectors import load_word_vectors
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.backbones import ApplicationImageTrunk
from cmgan_tf.presets import preset
from cmgan_tf.runs.model_dir import load_run
from cmgan_tf.runs.trainer import train
from cmgan_tf.training.builder import build_cmgan, build_text_vectorizer


@pytest.fixture(scope="module")
def mobilenet_weights(tmp_path_factory):
    """A local MobileNetV2 'notop' weights file, and the network it came from."""
    network = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2_notop.weights.h5"
    network.save_weights(path)
    return path, network


def test_backbone_weights_come_from_the_local_file(mobilenet_weights, tmp_path):
    path, network = mobilenet_weights
    trunk = ApplicationImageTrunk("mobilenet_v2", 32, units=6, weights_path=path)
    for loaded, saved in zip(
        trunk.network.get_weights(), network.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(loaded, saved)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), np.uint8)
    outputs = trunk(images)
    assert tuple(outputs.shape) == (3, 6)
    # Frozen: BatchNorm statistics do not move even in a training call.
    moving = [w.numpy().copy() for w in trunk.network.non_trainable_weights]
    trunk(images, training=True)
    for before, after in zip(moving, trunk.network.non_trainable_weights, strict=True):
        np.testing.assert_array_equal(before, after.numpy())
    assert not trunk.network.trainable_weights
    # A saved model restores its weights without the weights file.
    model = keras.Sequential([keras.Input((32, 32, 3)), trunk])
    model.save(tmp_path / "trunk.keras")
    restored = keras.saving.load_model(tmp_path / "trunk.keras")
    np.testing.assert_allclose(restored(images), outputs, atol=1e-5)


@pytest.mark.parametrize(
    "weights, message",
    [
        ("absent.h5", "does not exist"),
        ("corrupt.h5", "could not be loaded into vgg16"),
        ("mobilenet", "could not be loaded into vgg16"),
    ],
)
def test_bad_weight_files(mobilenet_weights, tmp_path, weights, message):
    (tmp_path / "corrupt.h5").write_bytes(b"not an h5 file")
    path = mobilenet_weights[0] if weights == "mobilenet" else tmp_path / weights
    with pytest.raises(InvalidInputError, match=message):
        ApplicationImageTrunk("vgg16", 32, weights_path=path)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"image_backbone": "vgg19"}, "needs --backbone_weights"),
        ({"backbone_weights": "w.h5"}, "only a backbone takes one"),
        ({"image_backbone": "alexnet", "backbone_weights": "w.h5"}, "image_backbone"),
    ],
)
def test_backbone_flags_that_make_no_sense(fields, message):
    with pytest.raises(InvalidInputError, match=message):
        ExperimentConfig().replace(model=fields)


def test_too_small_images_for_a_backbone():
    with pytest.raises(InvalidInputError, match="at least 32x32"):
        ApplicationImageTrunk("vgg19", 16)


@pytest.mark.slow
def test_training_on_a_backbone_exports_an_encoder_of_pixels(
    mobilenet_weights, tmp_path
):
    from cmgan_tf.data.dataset import CrossModalDataset
    from cmgan_tf.data.demo import CLASS_NAMES, generate_shapes_split

    dataset = CrossModalDataset(
        "shapes",
        generate_shapes_split(96, image_size=32, seed=1),
        generate_shapes_split(32, image_size=32, seed=2),
        multi_label=False,
        class_names=CLASS_NAMES,
    )
    config = preset("smoke").replace(
        data={"dataset": "shapes"},
        model={
            "image_backbone": "mobilenet_v2",
            "backbone_weights": str(mobilenet_weights[0]),
            "image_trunk_units": 16,
            "vocabulary_size": 50,
            "sequence_length": 12,
            "embedding_dim": 8,
            "text_filters": 4,
        },
        training={"epochs": 1, "batch_size": 32},
        runtime={"model_dir": str(tmp_path / "run")},
    )
    train(config, dataset=dataset)
    _, encoder = load_run(tmp_path / "run")
    trunk = encoder.generator.image_trunk
    assert isinstance(trunk, ApplicationImageTrunk)
    # The frozen backbone kept the file's weights through training.
    for trained, saved in zip(
        trunk.network.get_weights(), mobilenet_weights[1].get_weights(), strict=True
    ):
        np.testing.assert_array_equal(trained, saved)
    embeddings = encoder.predict_arrays(dataset.test.images, "image")
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_glove_and_word2vec_files(tmp_path):
    vocabulary = ["", "[UNK]", "red", "circle", "zebra"]
    glove = _write(tmp_path / "g.txt", "circle 1 2 3\nred 4 5 6\nblue 7 8 9\n")
    vectors, found = load_word_vectors(glove, vocabulary, 3)
    np.testing.assert_array_equal(found, [False, False, True, True, False])
    np.testing.assert_array_equal(vectors[2], [4, 5, 6])
    np.testing.assert_array_equal(vectors[3], [1, 2, 3])
    word2vec = _write(tmp_path / "w.txt", "2 3\ncircle 1 2 3\nzebra 0.5 0 -1\n")
    vectors, found = load_word_vectors(word2vec, vocabulary, 3)
    np.testing.assert_array_equal(found, [False, False, False, True, True])
    np.testing.assert_array_equal(vectors[4], [0.5, 0, -1])


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "holds no word vectors"),
        ("red 1 2\n", "line 1: expected a token and 3 numbers"),
        ("red 1 2 x\n", "line 1"),
        ("2 4\nred 1 2 3 4\n", "holds 4-dimensional vectors; the embedding has 3"),
        ("red 1 nan 3\n", "NaN or Inf"),
    ],
)
def test_bad_word_vector_files(tmp_path, content, message):
    path = _write(tmp_path / "v.txt", content)
    with pytest.raises(InvalidInputError, match=message):
        load_word_vectors(path, ["", "[UNK]", "red"], 3)


def test_word_vector_files_that_are_missing_or_not_utf8(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_word_vectors(tmp_path / "absent.txt", ["red"], 3)
    path = tmp_path / "latin1.txt"
    path.write_bytes("rouge\xe9 1 2 3\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        load_word_vectors(path, ["red"], 3)


def test_word_vectors_initialise_the_embedding(tmp_path):
    from cmgan_tf.data.demo import generate_shapes_split

    split = generate_shapes_split(48, image_size=16, seed=3)
    config = preset("smoke").replace(
        model={
            "image_filters": (4,),
            "image_trunk_units": 8,
            "vocabulary_size": 40,
            "sequence_length": 12,
            "embedding_dim": 4,
            "text_filters": 2,
        }
    )
    vectorizer = build_text_vectorizer(config, split)
    vocabulary = vectorizer.get_vocabulary()
    lines = [f"{word} {i} 1 2 3" for i, word in enumerate(vocabulary[2:5], start=7)]
    path = _write(tmp_path / "v.txt", "\n".join(lines) + "\nunseen 0 0 0 0\n")
    config = config.replace(model={"word_vectors": str(path)})
    embedding = build_cmgan(config, split, False, vectorizer).generator.text_trunk
    weights = keras.ops.convert_to_numpy(embedding.embedding.embeddings)
    for i, word in enumerate(vocabulary[2:5], start=7):
        np.testing.assert_array_equal(weights[vocabulary.index(word)], [i, 1, 2, 3])
    # Words without a vector keep their random initialisation.
    assert not np.array_equal(weights[5], np.zeros(4))
