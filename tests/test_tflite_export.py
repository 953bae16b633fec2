"""TFLite encoders: conversion, the LiteRT runner, the caption tokeniser, parity."""

import json
import os

import keras
import numpy as np
import pytest

from cmgan_tf.benchmarks.quality import ranking_scores
from cmgan_tf.data import load_dataset
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.encoder import CrossModalEncoder
from cmgan_tf.models.ensemble import EnsembleEncoder
from cmgan_tf.models.raw_trunks import make_text_vectorizer
from cmgan_tf.presets import preset
from cmgan_tf.runs.export import export_tflite_model
from cmgan_tf.serving import litert, parity, tflite, tokenizer
from cmgan_tf.training.builder import build_generator

_TRICKY_CAPTIONS = [
    "A RED circle, and a small blue square!",
    "  many   spaces\tand\ttabs\nand lines  ",
    "unknown-words: zebra's (striped) hexagon?",
    "ÀBC déF İstanbul non-ASCII letters stay as they are",
    "word\u00a0joined\u3000by non-ASCII spaces",
    "one two three four five six seven eight nine ten eleven twelve thirteen",
    "!!! ... ???",
]


def test_caption_tokenizer_matches_text_vectorization():
    vectorizer = make_text_vectorizer(
        ["a red circle", "a blue square and a red square", "déf words stay"],
        vocabulary_size=20,
        sequence_length=8,
    )
    tokenize = tokenizer.CaptionTokenizer(vectorizer.get_vocabulary(), 8)
    expected = np.asarray(vectorizer(np.asarray(_TRICKY_CAPTIONS)))
    np.testing.assert_array_equal(tokenize(_TRICKY_CAPTIONS), expected)
    byte_captions = [t.encode("utf-8") for t in _TRICKY_CAPTIONS]
    np.testing.assert_array_equal(tokenize(byte_captions), expected)


@pytest.fixture(scope="module")
def raw_export(raw_run, tmp_path_factory):
    encoder, test = raw_run
    directory = tmp_path_factory.mktemp("tflite") / "raw"
    manifest = tflite.export_tflite(
        encoder,
        directory,
        representative_inputs={"image": test.images, "text": test.texts},
    )
    return directory, manifest


def test_raw_encoders_take_pixels_and_token_ids(raw_run, raw_export):
    encoder, test = raw_run
    directory, manifest = raw_export
    assert sorted(os.listdir(directory)) == sorted(
        [*manifest, "manifest.json", "vocabulary.txt"]
    )
    assert json.loads((directory / "manifest.json").read_text()) == manifest
    image = manifest["image_float32.tflite"]
    assert image["input"] == {
        "name": "images",
        "dtype": "uint8",
        "shape": [None, 16, 16, 3],
    }
    text = manifest["text_int8.tflite"]
    assert text["input"] == {"name": "token_ids", "dtype": "int32", "shape": [None, 12]}
    assert text["vocabulary"] == "vocabulary.txt"
    assert image["bytes"] == (directory / "image_float32.tflite").stat().st_size
    # Quantised weights take less room (this tiny model is mostly overhead).
    assert text["bytes"] < manifest["text_float32.tflite"]["bytes"]

    tokenize = tokenizer.CaptionTokenizer.from_file(directory / "vocabulary.txt", 12)
    token_ids = tokenize(list(test.texts))
    np.testing.assert_array_equal(
        token_ids, np.asarray(encoder.tokenize(np.asarray(test.texts)))
    )
    for modality, inputs in (("image", test.images), ("text", token_ids)):
        keras_embeddings = encoder.predict_arrays(
            test.images if modality == "image" else np.asarray(test.texts), modality
        )
        for variant, atol in (("float32", 1e-5), ("float16", 1e-2)):
            run = litert.TFLiteEncoder(directory / f"{modality}_{variant}.tflite")
            np.testing.assert_allclose(run(inputs), keras_embeddings, atol=atol)


@pytest.mark.slow
def test_parity_report_of_every_variant(feature_run, tmp_path):
    model_dir, encoder = feature_run
    result = export_tflite_model(model_dir, tmp_path / "tflite", check_parity=True)
    report = result["parity"]
    assert set(report) == {"keras", *tflite.VARIANTS}
    assert report["float32"]["image_max_abs_diff"] < 5e-5
    assert report["float32"]["text_max_abs_diff"] < 5e-5
    assert report["float32"]["same_top_k"] == 1.0
    assert report["float16"]["image_max_abs_diff"] < 1e-2
    for variant in tflite.VARIANTS:
        for key in ("map_image_to_text", "map_text_to_image"):
            assert report[variant][key] == pytest.approx(
                report["keras"][key], abs=0.03
            ), variant
    written = json.loads((tmp_path / "tflite" / "cmgan_config.json").read_text())
    assert written["data"]["dataset"] == "wikipedia_classic"


def test_runner_rejects_inputs_of_the_wrong_kind(raw_export):
    directory, _ = raw_export
    run = litert.TFLiteEncoder(directory / "image_float32.tflite")
    assert run.input_shape == (None, 16, 16, 3)
    with pytest.raises(InvalidInputError, match=r"shape \(batch, 16, 16, 3\)"):
        run(np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(InvalidInputError, match="must be uint8. Received: float32"):
        run(np.zeros((2, 16, 16, 3), np.float32))
    with pytest.raises(InvalidInputError, match="empty batch"):
        run(np.zeros((0, 16, 16, 3), np.uint8))
    # The interpreter is resized for each new batch size.
    assert run(np.zeros((3, 16, 16, 3), np.uint8)).shape[0] == 3
    assert run(np.zeros((1, 16, 16, 3), np.uint8)).shape[0] == 1


def test_a_failed_export_leaves_nothing(feature_run, tmp_path, monkeypatch):
    _, encoder = feature_run
    calls = []

    def fail_on_the_second_file(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("converter crashed")
        return b"flatbuffer"

    monkeypatch.setattr(tflite, "convert_encoder", fail_on_the_second_file)
    with pytest.raises(RuntimeError, match="converter crashed"):
        tflite.export_tflite(encoder, tmp_path / "out", variants=("float32",))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variants": ("float8",)}, "non-empty subset"),
        ({"variants": ()}, "non-empty subset"),
        ({"variants": ("int8",)}, "needs representative inputs"),
    ],
)
def test_bad_export_arguments(feature_run, tmp_path, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        tflite.export_tflite(feature_run[1], tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_an_existing_directory_is_refused_unless_overwritten(feature_run, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old").write_text("")
    with pytest.raises(InvalidInputError, match="already exists"):
        tflite.export_tflite(feature_run[1], tmp_path / "out", variants=("float32",))
    tflite.export_tflite(
        feature_run[1], tmp_path / "out", variants=("float32",), overwrite=True
    )
    assert sorted(os.listdir(tmp_path / "out")) == [
        "image_float32.tflite",
        "manifest.json",
        "text_float32.tflite",
    ]
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_a_file_that_is_not_tflite(tmp_path):
    (tmp_path / "bad.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(InvalidInputError, match="Could not load"):
        litert.TFLiteEncoder(tmp_path / "bad.tflite")


def test_parity_of_raw_encoders_through_the_tokenizer(raw_run, raw_export):
    encoder, test = raw_run
    directory, _ = raw_export
    report = parity.tflite_parity(directory, encoder, test, k=5)
    assert report["float32"]["same_top_k"] == 1.0
    assert report["float32"]["map_text_to_image"] == pytest.approx(
        report["keras"]["map_text_to_image"], abs=1e-6
    )


@pytest.mark.slow
def test_the_features_encoder_converts_and_keeps_the_rankings(tmp_path):
    # The `features` preset's trunks (Hellinger map, Nystroem kernel maps,
    # standardisation) and its representation (the standardised common
    # representation with class probabilities appended), all inside the
    # exported graph; fewer landmarks than shipped, for speed.
    dataset = load_dataset("wikipedia_classic")
    config = preset("features").replace(
        data={"image_kernel_landmarks": 128, "text_kernel_landmarks": 64}
    )
    keras.utils.set_random_seed(0)
    encoder = CrossModalEncoder.from_generator(
        build_generator(config, dataset.train),
        dataset.train.images,
        dataset.train.texts,
        representation=config.model.representation,
        temperature=config.model.temperature,
        class_weight=config.model.class_weight,
    )
    assert encoder.output_dim == config.model.common_dim + dataset.train.num_classes
    # 8-bit weights cannot hold the kernel maps: refused, nothing written.
    with pytest.raises(InvalidInputError, match="kernel map"):
        tflite.export_tflite(
            encoder,
            tmp_path / "int8",
            variants=("float32", "dynamic_int8"),
        )
    assert not (tmp_path / "int8").exists()
    # By default only the variants that keep the rankings are written.
    directory = tmp_path / "tflite"
    manifest = tflite.export_tflite(encoder, directory)
    assert {entry["variant"] for entry in manifest.values()} == {"float32", "float16"}
    images, texts = dataset.test.images[:200], dataset.test.texts[:200]
    labels = dataset.test.labels[:200]
    keras_embeddings = {
        "image": encoder.predict_arrays(images, "image"),
        "text": encoder.predict_arrays(texts, "text"),
    }
    tflite_embeddings = {}
    for variant in ("float32", "float16"):
        for modality, inputs in (("image", images), ("text", texts)):
            run = litert.TFLiteEncoder(directory / f"{modality}_{variant}.tflite")
            tflite_embeddings[modality, variant] = run(inputs)
    for modality in ("image", "text"):
        np.testing.assert_allclose(
            tflite_embeddings[modality, "float32"],
            keras_embeddings[modality],
            atol=1e-4,
        )
    # float16 weights: the parity report's criterion, MAP within 0.03.
    expected = ranking_scores(
        keras_embeddings["image"], keras_embeddings["text"], labels
    )
    half = ranking_scores(
        tflite_embeddings["image", "float16"],
        tflite_embeddings["text", "float16"],
        labels,
    )
    for direction in ("map_image_to_text", "map_text_to_image"):
        assert half[direction] == pytest.approx(expected[direction], abs=0.03)


def test_encoders_without_a_kernel_map_support_every_variant(feature_run):
    assert tflite.supported_variants(feature_run[1]) == tflite.VARIANTS


def test_an_ensemble_with_a_kernel_map_member_keeps_to_float_variants(feature_run):
    dataset = load_dataset("wikipedia_classic")
    config = preset("smoke").replace(data={"image_kernel_landmarks": 16})
    mapped = CrossModalEncoder.from_generator(
        build_generator(config, dataset.train),
        dataset.train.images,
        dataset.train.texts,
    )
    assert tflite.supported_variants(mapped) == ("float32", "float16")
    ensemble = EnsembleEncoder([feature_run[1], mapped])
    assert tflite.supported_variants(ensemble) == ("float32", "float16")


def test_an_ensemble_of_raw_encoders_takes_token_ids_on_device(raw_run, tmp_path):
    encoder, test = raw_run
    texts = np.asarray(test.texts)
    other = CrossModalEncoder.from_generator(
        encoder.generator,
        test.images,
        texts,
        representation="standardized_common",
        text_vectorizer=encoder.text_vectorizer,
    )
    ensemble = EnsembleEncoder([encoder, other])
    directory = tmp_path / "ensemble"
    manifest = tflite.export_tflite(ensemble, directory, variants=("float32",))
    assert manifest["text_float32.tflite"]["input"]["name"] == "token_ids"
    token_ids = tokenizer.CaptionTokenizer.from_file(directory / "vocabulary.txt", 12)(
        list(test.texts)
    )
    for modality, inputs, keras_inputs in (
        ("image", test.images, test.images),
        ("text", token_ids, texts),
    ):
        run = litert.TFLiteEncoder(directory / f"{modality}_float32.tflite")
        np.testing.assert_allclose(
            run(inputs), ensemble.predict_arrays(keras_inputs, modality), atol=1e-5
        )
