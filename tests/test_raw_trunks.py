"""Learned trunks for raw images and token ids, and the text vectorizer."""

import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.raw_trunks import (
    ConvImageTrunk,
    DenseGradientEmbedding,
    WordCNNTextTrunk,
    make_text_vectorizer,
)
from tests.layer_test_utils import run_layer_test

BATCH, IMAGE_SIZE, VOCABULARY, SEQUENCE = 4, 16, 30, 10


def _images(channels=3, size=IMAGE_SIZE, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(BATCH, size, size, channels)).astype("uint8")


def _token_ids(length=SEQUENCE, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, VOCABULARY, size=(BATCH, length)).astype("int32")


def _image_trunk(**kwargs):
    return ConvImageTrunk(IMAGE_SIZE, filters=(4, 8), units=6, **kwargs)


def _text_trunk(sequence_length=SEQUENCE, **kwargs):
    return WordCNNTextTrunk(
        VOCABULARY,
        sequence_length,
        embedding_dim=8,
        window_sizes=(2, 3),
        filters_per_window=5,
        **kwargs,
    )


def _jit_call(layer, inputs):
    # A named function: AutoGraph cannot read a lambda's source.
    @tf.function(jit_compile=True)
    def compiled(x):
        return layer(x, training=False)

    return np.asarray(compiled(tf.constant(inputs)))


# ConvImageTrunk


@pytest.mark.parametrize("batch_norm", [True, False], ids=["batch_norm", "plain"])
def test_conv_image_trunk(batch_norm, tmp_path):
    layer = run_layer_test(
        lambda: _image_trunk(batch_norm=batch_norm),
        _images(),
        (BATCH, 6),
        tmp_path,
    )
    assert layer.output_dim == 6


def test_conv_image_trunk_gives_same_output_for_uint8_and_float_pixels():
    trunk = _image_trunk()
    images = _images()
    from_uint8 = np.asarray(trunk(images, training=False))
    from_float = np.asarray(trunk(images.astype("float32"), training=False))
    np.testing.assert_allclose(from_float, from_uint8, rtol=1e-6, atol=1e-6)
    # Not a constant: different images must give different representations.
    assert np.abs(from_uint8[0] - from_uint8[1]).max() > 1e-4


@pytest.mark.parametrize(
    "shape",
    [
        (BATCH, IMAGE_SIZE, IMAGE_SIZE, 1),
        (BATCH, IMAGE_SIZE, IMAGE_SIZE),
        (BATCH, 8, 8, 3),
        (BATCH, IMAGE_SIZE, 8, 3),
    ],
    ids=["grayscale_to_rgb", "rank_3", "wrong_size", "not_square"],
)
@pytest.mark.parametrize("already_built", [False, True], ids=["build", "call"])
def test_conv_image_trunk_rejects_wrong_image_shape(shape, already_built):
    trunk = _image_trunk()
    if already_built:
        trunk(_images())
    with pytest.raises(InvalidInputError) as error:
        trunk(np.zeros(shape, "uint8"))
    message = str(error.value)
    assert f"(batch, {IMAGE_SIZE}, {IMAGE_SIZE}, 3)" in message
    assert f"Received: shape={shape}" in message


def test_conv_image_trunk_rejects_rgb_images_for_grayscale_trunk():
    trunk = _image_trunk(channels=1)
    with pytest.raises(InvalidInputError, match=r"\(batch, 16, 16, 1\)"):
        trunk(_images(channels=3))
    assert trunk(_images(channels=1)).shape == (BATCH, 6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_size": 3}, "at least 2 \\*\\* len\\(filters\\) = 4"),
        ({"image_size": 16, "filters": ()}, "filters=\\(\\)"),
        ({"image_size": 16, "filters": (4, 0)}, "filters=\\(4, 0\\)"),
        ({"image_size": 16, "units": 0}, "units=0"),
        ({"image_size": 16, "channels": True}, "channels=True"),
    ],
)
def test_conv_image_trunk_rejects_bad_arguments(kwargs, match):
    kwargs = {"filters": (4, 8), **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        ConvImageTrunk(**kwargs)


def test_conv_image_trunk_compiles_with_xla():
    trunk = _image_trunk()
    images = _images(seed=3)
    trunk(images, training=True)  # Moves BatchNorm statistics off their init.
    eager = np.asarray(trunk(images, training=False))
    np.testing.assert_allclose(_jit_call(trunk, images), eager, rtol=1e-5, atol=1e-5)


# DenseGradientEmbedding


def test_dense_gradient_embedding(tmp_path):
    run_layer_test(
        lambda: DenseGradientEmbedding(VOCABULARY, 3),
        _token_ids(),
        (BATCH, SEQUENCE, 3),
        tmp_path,
    )


def _lookup_gradient(layer, ids, upstream):
    with tf.GradientTape() as tape:
        outputs = layer(ids)
        loss = tf.reduce_sum(outputs * upstream)
    return outputs, tape.gradient(loss, layer.trainable_variables[0])


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "xla"])
def test_dense_gradient_embedding_matches_keras_embedding(jit_compile):
    import keras

    ids = _token_ids(seed=3)
    ids[0, :4] = 7  # a repeated id: its rows' gradients add up
    upstream = np.random.default_rng(1).normal(size=(BATCH, SEQUENCE, 3)).astype("f4")
    ours, theirs = (
        DenseGradientEmbedding(VOCABULARY, 3),
        keras.layers.Embedding(VOCABULARY, 3),
    )
    ours.build(ids.shape)
    theirs.build(ids.shape)
    theirs.set_weights(ours.get_weights())
    lookup = (
        tf.function(_lookup_gradient, jit_compile=True)
        if jit_compile
        else _lookup_gradient
    )
    outputs, gradient = lookup(ours, tf.constant(ids), tf.constant(upstream))
    expected_outputs, expected_gradient = _lookup_gradient(theirs, ids, upstream)
    np.testing.assert_allclose(outputs, expected_outputs)
    np.testing.assert_allclose(
        gradient, tf.convert_to_tensor(expected_gradient), rtol=1e-6, atol=1e-6
    )
    # What keeps XLA from compiling the whole step again at every step: a
    # dense gradient of static shape, not IndexedSlices shaped in the graph.
    assert isinstance(gradient, tf.Tensor)
    assert gradient.shape == (VOCABULARY, 3)


def test_dense_gradient_embedding_rejects_what_it_does_not_implement():
    with pytest.raises(InvalidInputError, match="mask_zero"):
        DenseGradientEmbedding(VOCABULARY, 3, mask_zero=True)


def test_word_cnn_text_trunk_looks_tokens_up_with_a_dense_gradient():
    assert isinstance(_text_trunk().embedding, DenseGradientEmbedding)


# WordCNNTextTrunk


@pytest.mark.parametrize("dropout", [0.0, 0.5], ids=["plain", "dropout"])
def test_word_cnn_text_trunk(dropout, tmp_path):
    layer = run_layer_test(
        lambda: _text_trunk(dropout=dropout, seed=1),
        _token_ids(),
        (BATCH, 10),
        tmp_path,
    )
    assert layer.output_dim == 10


@pytest.mark.parametrize(
    "window_sizes, filters, expected", [((2, 3, 4), 64, 192), ((5,), 7, 7)]
)
def test_word_cnn_text_trunk_output_dim(window_sizes, filters, expected):
    trunk = WordCNNTextTrunk(
        VOCABULARY,
        SEQUENCE,
        embedding_dim=4,
        window_sizes=window_sizes,
        filters_per_window=filters,
    )
    assert trunk.output_dim == expected
    assert trunk(_token_ids()).shape == (BATCH, expected)
    assert trunk.compute_output_shape((None, SEQUENCE)) == (None, expected)


def test_word_cnn_text_trunk_compiles_with_xla():
    trunk = _text_trunk()
    ids = _token_ids(seed=2)
    eager = np.asarray(trunk(ids, training=False))
    np.testing.assert_allclose(_jit_call(trunk, ids), eager, rtol=1e-5, atol=1e-6)


def test_word_cnn_text_trunk_ignores_how_much_padding_follows_the_text():
    # True with 'valid' convolutions once both paddings are at least the widest
    # window (3 here): the extra windows are all padding, like one already seen.
    short, long = _text_trunk(sequence_length=9), _text_trunk(sequence_length=16)
    tokens = np.array([[5, 9, 2, 7, 11, 3]], "int32")
    short_ids = np.pad(tokens, ((0, 0), (0, 3)))
    long_ids = np.pad(tokens, ((0, 0), (0, 10)))
    short(short_ids)
    long(long_ids)
    long.set_weights(short.get_weights())
    np.testing.assert_allclose(
        np.asarray(long(long_ids)), np.asarray(short(short_ids)), rtol=1e-6
    )
    # The ids matter: a different text gives a different representation.
    other = np.pad(tokens[:, ::-1], ((0, 0), (0, 3)))
    assert np.abs(np.asarray(short(other)) - np.asarray(short(short_ids))).max() > 0


@pytest.mark.parametrize(
    "inputs, match",
    [
        (np.zeros((BATCH, SEQUENCE + 1), "int32"), "Received: shape=\\(4, 11\\)"),
        (np.zeros((BATCH, SEQUENCE, 1), "int32"), "Received: shape=\\(4, 10, 1\\)"),
        (np.zeros((BATCH, SEQUENCE), "float32"), "dtype=float32"),
        (tf.fill((BATCH, SEQUENCE), "word"), "dtype=string"),
    ],
    ids=["wrong_length", "rank_3", "float", "string"],
)
def test_word_cnn_text_trunk_rejects_bad_inputs(inputs, match):
    with pytest.raises(InvalidInputError, match=match):
        _text_trunk()(inputs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sequence_length": 3, "window_sizes": (2, 4)}, "max\\(window_sizes\\) = 4"),
        ({"window_sizes": ()}, "window_sizes=\\(\\)"),
        ({"vocabulary_size": 0}, "vocabulary_size=0"),
        ({"dropout": 1.0}, "dropout=1.0"),
    ],
)
def test_word_cnn_text_trunk_rejects_bad_arguments(kwargs, match):
    kwargs = {"vocabulary_size": VOCABULARY, "sequence_length": SEQUENCE, **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        WordCNNTextTrunk(**kwargs)


# make_text_vectorizer

TEXTS = ["A red circle.", "a BLUE square!", "the red square", "a red triangle"]


def test_text_vectorizer_builds_vocabulary_from_the_texts():
    vectorizer = make_text_vectorizer(TEXTS, vocabulary_size=20, sequence_length=5)
    vocabulary = [str(token) for token in vectorizer.get_vocabulary()]
    assert vocabulary[:2] == ["", "[UNK]"]
    # Lower-cased, punctuation stripped, most frequent first.
    assert vocabulary[2:4] == ["red", "a"]
    assert set(vocabulary[2:]) == {
        "a", "red", "square", "circle", "blue", "the", "triangle"
    }  # fmt: skip
    ids = np.asarray(vectorizer(["Red CIRCLE, hexagon"]))
    index = {token: i for i, token in enumerate(vocabulary)}
    np.testing.assert_array_equal(ids, [[index["red"], index["circle"], 1, 0, 0]])


def test_text_vectorizer_keeps_the_most_frequent_tokens():
    vectorizer = make_text_vectorizer(TEXTS, vocabulary_size=4, sequence_length=3)
    assert [str(t) for t in vectorizer.get_vocabulary()] == ["", "[UNK]", "red", "a"]
    np.testing.assert_array_equal(np.asarray(vectorizer(["a blue red"])), [[3, 1, 2]])


def test_text_vectorizer_truncates_long_texts():
    texts = ["one two three four five six seven", "two three"]
    vectorizer = make_text_vectorizer(texts, vocabulary_size=20, sequence_length=4)
    vocabulary = [str(token) for token in vectorizer.get_vocabulary()]
    ids = np.asarray(vectorizer(texts))
    assert ids.shape == (2, 4)
    assert [vocabulary[i] for i in ids[0]] == ["one", "two", "three", "four"]
    assert [vocabulary[i] for i in ids[1]] == ["two", "three", "", ""]


def test_text_vectorizer_accepts_arrays_and_utf8_bytes():
    texts = np.array(["café au lait", "thé"], dtype=object)
    from_str = make_text_vectorizer(texts, vocabulary_size=10, sequence_length=3)
    from_bytes = make_text_vectorizer(
        [t.encode("utf-8") for t in texts], vocabulary_size=10, sequence_length=3
    )
    assert from_str.get_vocabulary() == from_bytes.get_vocabulary()
    assert "café" in [str(t) for t in from_str.get_vocabulary()]


def test_text_vectorizer_ids_feed_the_text_trunk_under_xla():
    vectorizer = make_text_vectorizer(TEXTS, vocabulary_size=12, sequence_length=6)
    ids = np.asarray(vectorizer(TEXTS))
    assert ids.min() >= 0 and ids.max() < 12
    trunk = WordCNNTextTrunk(12, 6, embedding_dim=4, filters_per_window=3)
    eager = np.asarray(trunk(ids))
    assert eager.shape == (len(TEXTS), 9)
    np.testing.assert_allclose(_jit_call(trunk, ids), eager, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "texts, match",
    [
        ([], "`texts` is empty"),
        (np.array([], dtype=object), "`texts` is empty"),
        (["a red circle", ""], "`texts\\[1\\]` is empty or whitespace only"),
        (["ok", "fine", " \t\n"], "`texts\\[2\\]` is empty or whitespace only"),
        (["ok", "?!", "..."], "Text 1 has no words .* '\\?!' \\(2 such texts\\)"),
        (["ok", b"caf\xe9", b"\xff"], "`texts\\[1\\]` is not valid UTF-8"),
        (["ok", None], "`texts\\[1\\]` must be a str or UTF-8 bytes"),
        ("a red circle", "not one text"),
        (np.array([["a", "b"]]), "must be 1-D. Received: shape=\\(1, 2\\)"),
    ],
    ids=[
        "empty_list",
        "empty_array",
        "empty_text",
        "whitespace_text",
        "punctuation_text",
        "bad_utf8",
        "none",
        "one_string",
        "two_dimensional",
    ],
)
def test_text_vectorizer_rejects_bad_texts(texts, match):
    with pytest.raises(InvalidInputError, match=match):
        make_text_vectorizer(texts, vocabulary_size=10, sequence_length=4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"vocabulary_size": 2, "sequence_length": 4}, "vocabulary_size=2"),
        ({"vocabulary_size": 10, "sequence_length": 0}, "sequence_length=0"),
    ],
)
def test_text_vectorizer_rejects_bad_sizes(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        make_text_vectorizer(TEXTS, **kwargs)
