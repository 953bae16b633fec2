"""SavedModel export for TensorFlow Serving: layout, signatures, parity, failures."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.config import model_server_config_pb2

from cmgan_tf.config import ExperimentConfig
from cmgan_tf.data.registry import load_dataset
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.retrieval.search import rankings_agree, top_k_search
from cmgan_tf.runs.export import export_serving_model
from cmgan_tf.serving import client, repository, signatures
from cmgan_tf.serving import gallery as galleries_lib

_LOAD_AND_RUN = """
import sys, numpy as np, tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
inputs = np.load(sys.argv[2], allow_pickle=True)
outputs = {}
for name in model.signatures:
    signature = model.signatures[name]
    (key,) = signature.structured_input_signature[1]
    if key == "image_bytes":
        batch = [tf.io.encode_png(image).numpy() for image in inputs["images"]]
    else:
        batch = inputs[key]
    for output, value in signature(**{key: tf.constant(batch)}).items():
        outputs[f"{name}/{output}"] = value.numpy()
np.savez(sys.argv[3], **outputs)
"""


def _write_version(*args, **kwargs):
    """`write_serving_version`, its result as a local `pathlib.Path`."""
    return pathlib.Path(repository.write_serving_version(*args, **kwargs))


def _galleries(encoder, split):
    return {
        m: galleries_lib.gallery_from_split(encoder, split, m)
        for m in ("image", "text")
    }


def _run_in_fresh_process(path, images, texts, tmp_path):
    inputs, outputs = tmp_path / "inputs.npz", tmp_path / "outputs.npz"
    texts = np.asarray(texts)
    if texts.dtype.kind == "U":
        texts = texts.astype(object)
    np.savez(inputs, images=images, texts=texts)
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_RUN, str(path), str(inputs), str(outputs)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(outputs) as archive:
        return dict(archive)


def _check_against_keras(outputs, encoder, galleries, images, texts):
    for modality, inputs in (("image", images), ("text", texts)):
        expected = encoder.predict_arrays(inputs, modality)
        np.testing.assert_allclose(
            outputs[f"encode_{modality}/embeddings"], expected, atol=1e-5
        )
        other = "text" if modality == "image" else "image"
        indices, scores = top_k_search(expected, galleries[other].embeddings, 5)
        assert rankings_agree(
            outputs[f"retrieve_with_{modality}/ids"],
            outputs[f"retrieve_with_{modality}/scores"],
            galleries[other].ids[indices],
            scores,
        ).all()
    np.testing.assert_array_equal(
        outputs["serving_default/embeddings"], outputs["encode_image/embeddings"]
    )


@pytest.mark.slow
def test_feature_model_signatures_match_keras_in_a_fresh_process(feature_run, tmp_path):
    _, encoder = feature_run
    test = load_dataset("wikipedia_classic").test
    galleries = _galleries(encoder, test)
    path = _write_version(encoder, tmp_path / "serving", galleries=galleries, top_k=5)
    outputs = _run_in_fresh_process(path, test.images[:40], test.texts[:40], tmp_path)
    assert outputs["retrieve_with_image/ids"].shape == (40, 5)
    assert outputs["retrieve_with_image/ids"].dtype == np.int64
    _check_against_keras(outputs, encoder, galleries, test.images[:40], test.texts[:40])


def test_raw_model_signatures_take_strings_and_uint8_images(raw_run, tmp_path):
    encoder, test = raw_run
    galleries = _galleries(encoder, test)
    path = _write_version(encoder, tmp_path / "serving", galleries=galleries, top_k=5)
    signatures = client.load_signatures(path)
    assert signatures["encode_text"]["inputs"] == {
        "texts": {"dtype": "string", "shape": [None]}
    }
    assert signatures["encode_image"]["inputs"] == {
        "images": {"dtype": "uint8", "shape": [None, 16, 16, 3]}
    }
    outputs = _run_in_fresh_process(path, test.images[:20], test.texts[:20], tmp_path)
    _check_against_keras(outputs, encoder, galleries, test.images[:20], test.texts[:20])
    # The same images as PNG bytes, decoded in the graph (lossless, same size).
    for name in ("encode_image_bytes/embeddings", "retrieve_with_image_bytes/scores"):
        np.testing.assert_allclose(
            outputs[name], outputs[name.replace("_bytes", "")], atol=1e-6
        )
    np.testing.assert_array_equal(
        outputs["retrieve_with_image_bytes/ids"], outputs["retrieve_with_image/ids"]
    )


def test_serving_layout_config_and_models_config(feature_run, tmp_path):
    model_dir, encoder = feature_run
    config = ExperimentConfig.from_json((model_dir / "config.json").read_text())
    export_dir = tmp_path / "serving"
    first = _write_version(encoder, export_dir, model_name="wiki", config=config)
    second = _write_version(encoder, export_dir, model_name="wiki")
    repository.write_serving_version(encoder, export_dir, model_name="other")
    assert (first.name, second.name) == ("1", "2")
    assert {"saved_model.pb", "variables", "assets.extra"} <= set(os.listdir(first))
    extra = first / "assets.extra"
    assert (
        ExperimentConfig.from_json((extra / "cmgan_config.json").read_text()) == config
    )
    # Without a gallery there is nothing to retrieve from.
    assert set(json.loads((extra / "signatures.json").read_text())) == {
        "encode_image",
        "encode_text",
        "serving_default",
    }
    parsed = text_format.Parse(
        (export_dir / "models.config").read_text(),
        model_server_config_pb2.ModelServerConfig(),
    )
    entries = {c.name: c for c in parsed.model_config_list.config}
    assert set(entries) == {"wiki", "other"}
    assert entries["wiki"].base_path == str((export_dir / "wiki").resolve())
    assert entries["wiki"].model_platform == "tensorflow"
    repository.write_models_config(export_dir, "/models")
    parsed = text_format.Parse(
        (export_dir / "models.config").read_text(),
        model_server_config_pb2.ModelServerConfig(),
    )
    assert parsed.model_config_list.config[0].base_path == "/models/other"
    assert not [p for p in export_dir.rglob(".*")]


def test_existing_version_is_refused_unless_overwritten(feature_run, tmp_path):
    _, encoder = feature_run
    path = _write_version(encoder, tmp_path, version=3)
    marker = path / "assets.extra" / "marker"
    marker.write_text("old")
    with pytest.raises(InvalidInputError, match="already exists.*--overwrite"):
        repository.write_serving_version(encoder, tmp_path, version=3)
    assert marker.exists()
    repository.write_serving_version(encoder, tmp_path, version=3, overwrite=True)
    assert not marker.exists() and (path / "saved_model.pb").exists()
    assert sorted(os.listdir(tmp_path / "cmgan")) == ["3"]


def test_a_failed_export_leaves_nothing_on_disk(feature_run, tmp_path, monkeypatch):
    _, encoder = feature_run
    export_dir = tmp_path / "new" / "serving"

    def fail_half_way(encoder, path, **kwargs):
        (pathlib.Path(path) / "saved_model.pb").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(repository, "export_saved_model", fail_half_way)
    with pytest.raises(OSError, match="disk full"):
        repository.write_serving_version(encoder, export_dir)
    assert os.listdir(tmp_path) == []
    # An existing version survives a failed overwrite untouched.
    monkeypatch.undo()
    path = _write_version(encoder, export_dir, version=1)
    monkeypatch.setattr(repository, "export_saved_model", fail_half_way)
    with pytest.raises(OSError):
        repository.write_serving_version(encoder, export_dir, version=1, overwrite=True)
    assert (path / "saved_model.pb").stat().st_size > 100
    assert sorted(os.listdir(export_dir / "cmgan")) == ["1"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"version": 0}, "`version` must be a positive integer"),
        ({"model_name": "../x"}, "`model_name` must be"),
        ({"top_k": 0}, "`top_k` must be a positive integer"),
    ],
)
def test_bad_export_arguments(feature_run, tmp_path, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        repository.write_serving_version(feature_run[1], tmp_path / "s", **kwargs)
    assert not (tmp_path / "s").exists()


def test_an_export_dir_that_cannot_be_created(feature_run, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidInputError, match="Cannot create the export directory"):
        repository.write_serving_version(feature_run[1], tmp_path / "file" / "s")


def test_exporting_a_directory_without_a_run(tmp_path):
    with pytest.raises(InvalidInputError, match="holds no finished training run"):
        export_serving_model(tmp_path, tmp_path / "serving")
    assert not (tmp_path / "serving").exists()


def test_signatures_reject_nan_features_and_empty_captions(
    feature_run, raw_run, tmp_path
):
    path = _write_version(feature_run[1], tmp_path / "f")
    model = tf.saved_model.load(str(path))
    images = np.zeros((2, 128), np.float32)
    images[1, 3] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="`images` holds NaN"):
        model.signatures["encode_image"](images=tf.constant(images))
    path = _write_version(raw_run[0], tmp_path / "r")
    model = tf.saved_model.load(str(path))
    for caption in ("  ", "?!..."):
        with pytest.raises(tf.errors.InvalidArgumentError, match="caption with no"):
            model.signatures["encode_text"](texts=tf.constant(["a circle", caption]))


def test_gallery_file_ids_are_what_retrieval_returns(feature_run, tmp_path):
    _, encoder = feature_run
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(30, encoder.output_dim))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    ids = np.arange(1000, 1030)
    np.savez(tmp_path / "g.npz", text_embeddings=embeddings, text_ids=ids)
    galleries = galleries_lib.load_gallery_file(tmp_path / "g.npz")
    assert set(galleries) == {"text"}
    path = _write_version(encoder, tmp_path / "s", galleries=galleries, top_k=3)
    model = tf.saved_model.load(str(path))
    assert "retrieve_with_text" not in model.signatures
    images = load_dataset("wikipedia_classic").test.images[:4]
    served = model.signatures["retrieve_with_image"](images=tf.constant(images))
    indices, _ = top_k_search(encoder.predict_arrays(images, "image"), embeddings, 3)
    np.testing.assert_array_equal(served["ids"].numpy(), ids[indices])


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"other": np.zeros(3)}, "holds neither `image_embeddings`"),
        ({"image_embeddings": np.zeros((0, 4))}, "non-empty"),
        ({"image_embeddings": np.full((2, 4), np.nan)}, "finite"),
        (
            {"image_embeddings": np.zeros((2, 4)), "image_ids": np.zeros(3, int)},
            "ids must be \\(2,\\) integers",
        ),
    ],
)
def test_bad_gallery_files(tmp_path, arrays, message):
    np.savez(tmp_path / "g.npz", **arrays)
    with pytest.raises(InvalidInputError, match=message):
        galleries_lib.load_gallery_file(tmp_path / "g.npz")


def test_gallery_of_another_dimension_is_refused(feature_run):
    gallery = galleries_lib.Gallery("text", np.ones((3, 7)), np.arange(3))
    with pytest.raises(InvalidInputError, match="7 dimensions; the encoder's have"):
        signatures.build_serving_archive(feature_run[1], {"text": gallery})


def _serve_rest(model, body):
    """What TF Serving does with a columnar REST request, in-process."""
    signature = model.signatures[body["signature_name"]]
    specs = signature.structured_input_signature[1]
    inputs = {
        name: tf.constant(value, dtype=specs[name].dtype)
        for name, value in json.loads(json.dumps(body))["inputs"].items()
    }
    outputs = {k: v.numpy().tolist() for k, v in signature(**inputs).items()}
    return json.dumps({"outputs": outputs})


def _serve_grpc(model, request_bytes):
    """What TF Serving does with a gRPC PredictRequest, in-process."""
    request = predict_pb2.PredictRequest.FromString(request_bytes)
    signature = model.signatures[request.model_spec.signature_name]
    inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    response = predict_pb2.PredictResponse()
    for name, value in signature(**inputs).items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
    return response.SerializeToString()


def test_client_requests_served_by_the_exported_signatures(raw_run, tmp_path):
    encoder, test = raw_run
    path = _write_version(
        encoder, tmp_path, galleries=_galleries(encoder, test), top_k=4
    )
    signatures = client.load_signatures(path)
    model = tf.saved_model.load(str(path))
    texts = list(test.texts[:3])
    expected_text = encoder.predict_arrays(np.asarray(texts), "text")

    body = client.rest_predict_body(signatures, "encode_text", {"texts": texts})
    outputs = client.parse_rest_response(_serve_rest(model, body))
    np.testing.assert_allclose(outputs["embeddings"], expected_text, atol=1e-5)

    images = test.images[:3]
    body = client.rest_predict_body(
        signatures, "retrieve_with_image", {"images": images.tolist()}
    )
    rest = client.parse_rest_response(_serve_rest(model, body))
    request = client.grpc_predict_request(
        signatures, "cmgan", "retrieve_with_image", {"images": images}, version=1
    )
    assert request.model_spec.version.value == 1
    response = predict_pb2.PredictResponse.FromString(
        _serve_grpc(model, request.SerializeToString())
    )
    grpc = client.parse_grpc_response(response)
    np.testing.assert_array_equal(rest["ids"], grpc["ids"])
    assert grpc["ids"].shape == (3, 4)

    request = client.grpc_predict_request(
        signatures, "cmgan", "encode_text", {"texts": texts}
    )
    response = predict_pb2.PredictResponse.FromString(
        _serve_grpc(model, request.SerializeToString())
    )
    np.testing.assert_allclose(
        client.parse_grpc_response(response)["embeddings"],
        expected_text,
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "signature, inputs, message",
    [
        ("encode_sound", {"texts": ["a"]}, "has no signature 'encode_sound'"),
        ("encode_text", {"images": ["a"]}, "takes the inputs \\['texts'\\]"),
        ("encode_text", {"texts": "a red circle"}, "a batch \\(a list\\)"),
        (
            "encode_text",
            {"texts": ["a red circle", " "]},
            "texts\\[1\\]` is empty or whitespace only",
        ),
        ("encode_text", {"texts": [b"\xff\xfe"]}, "not valid UTF-8"),
        ("encode_text", {"texts": []}, "empty batch"),
        ("encode_image", {"images": np.zeros((1, 8, 8, 3))}, "shape \\(batch, 16"),
        ("encode_image", {"images": np.full((1, 16, 16, 3), 0.5)}, "integer pixel"),
        ("encode_image", {"images": np.full((1, 16, 16, 3), 300)}, "\\[0, 255\\]"),
        ("encode_image", {"images": [["a"]]}, "must hold numbers"),
    ],
)
def test_client_rejects_bad_requests_by_name(
    raw_run, tmp_path, signature, inputs, message
):
    path = _write_version(raw_run[0], tmp_path)
    signatures = client.load_signatures(path)
    with pytest.raises(InvalidInputError, match=message):
        client.rest_predict_body(signatures, signature, inputs)


def test_client_rejects_nan_features(feature_run, tmp_path):
    path = _write_version(feature_run[1], tmp_path)
    signatures = client.load_signatures(path)
    images = np.zeros((1, 128))
    images[0, 0] = np.inf
    with pytest.raises(InvalidInputError, match="holds NaN or Inf"):
        client.grpc_predict_request(
            signatures, "cmgan", "encode_image", {"images": images}
        )


def test_rest_url_and_error_answers():
    assert (
        client.rest_predict_url("h", "m", port=9, version=None)
        == "http://h:9/v1/models/m:predict"
    )
    with pytest.raises(InvalidInputError, match="TF Serving answered: bad"):
        client.parse_rest_response('{"error": "bad"}')


def test_export_run_with_parity_check(feature_run, tmp_path):
    model_dir, _ = feature_run
    result = export_serving_model(model_dir, tmp_path, top_k=5, check_parity=True)
    parity = result["parity"]
    assert parity["encode_image_max_abs_diff"] < 1e-5
    assert parity["encode_text_max_abs_diff"] < 1e-5
    assert parity["retrieve_with_image_agreement"] == 1.0
    assert parity["retrieve_with_text_agreement"] == 1.0
    with pytest.raises(InvalidInputError, match="Give one of --gallery, --gallery_f"):
        export_serving_model(
            model_dir, tmp_path, gallery_split="test", gallery_file="g.npz"
        )
