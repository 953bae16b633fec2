"""Serving a gallery directory: string ids, image bytes, warm-up, TFLite retrieve."""

import base64
import json
import shutil
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.data.image_stream import decode_image
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.retrieval.gallery_dir import GalleryDirectory
from cmgan_tf.retrieval.search import rankings_agree
from cmgan_tf.runs import collection, search
from cmgan_tf.runs.export import export_serving_model, export_tflite_model
from cmgan_tf.serving import client, tflite_retrieval
from cmgan_tf.serving.litert import TFLiteRetriever
from cmgan_tf.serving.tokenizer import CaptionTokenizer
from cmgan_tf.serving.warmup import WARMUP_FILE, read_warmup_requests
from tests.test_gallery_search import write_collection


@pytest.fixture(scope="module")
def served(raw_training, tmp_path_factory):
    """`(gallery, split, SavedModel version dir, TFLite dir)` of one gallery."""
    model_dir = raw_training[0]
    root = tmp_path_factory.mktemp("served")
    photos, captions, split = write_collection(root, 12)
    gallery = root / "gallery"
    collection.embed_collection(
        model_dir, gallery, images=photos, captions=captions, verbose=0
    )
    version = export_serving_model(
        model_dir, root / "serving", gallery_dir=gallery, top_k=4
    )["path"]
    export_tflite_model(
        model_dir,
        root / "tflite",
        variants=("float32",),
        gallery_dir=gallery,
        top_k=4,
    )
    return gallery, split, version, root / "tflite"


def test_retrieval_signatures_return_the_gallery_string_ids(raw_training, served):
    model_dir = raw_training[0]
    gallery, split, version, _ = served
    model = tf.saved_model.load(version)
    queries = list(split.texts[:3])
    answer = model.signatures["retrieve_with_text"](texts=tf.constant(queries))
    ids = answer["ids"].numpy().astype(str)
    hits = [
        search.search_gallery(model_dir, gallery, search.read_queries(text=q), top_k=4)[
            0
        ]
        for q in queries
    ]
    assert rankings_agree(
        ids,
        answer["scores"].numpy(),
        [[h["id"] for h in query_hits] for query_hits in hits],
        [[h["score"] for h in query_hits] for query_hits in hits],
    ).all()
    with open(f"{version}/assets.extra/signatures.json") as handle:
        summary = json.load(handle)
    assert summary["retrieve_with_text"]["outputs"]["ids"]["dtype"] == "string"
    assert summary["retrieve_with_image_bytes"]["inputs"] == {
        "image_bytes": {"dtype": "string", "shape": [None]}
    }


def test_image_bytes_are_decoded_in_the_graph(served):
    gallery, _, version, _ = served
    model = tf.saved_model.load(version)
    paths = [item["path"] for item in GalleryDirectory(gallery).items[:4]]
    contents = tf.constant([tf.io.read_file(path).numpy() for path in paths])
    from_bytes = model.signatures["retrieve_with_image_bytes"](image_bytes=contents)
    # What cmgan-embed does to a file is what the signature does to its bytes.
    pixels = tf.stack([decode_image(c, (16, 16)) for c in contents])
    from_pixels = model.signatures["retrieve_with_image"](images=pixels)
    np.testing.assert_array_equal(from_bytes["ids"], from_pixels["ids"])
    np.testing.assert_allclose(from_bytes["scores"], from_pixels["scores"], atol=1e-6)
    embeddings = model.signatures["encode_image_bytes"](image_bytes=contents)
    np.testing.assert_allclose(
        embeddings["embeddings"],
        model.signatures["encode_image"](images=pixels)["embeddings"],
        atol=1e-6,
    )

    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match="`image_bytes` holds an item that is not an encoded PNG, JPEG, GIF "
        "or BMP image; the first such item is at index",
    ) as error:
        model.signatures["encode_image_bytes"](
            image_bytes=tf.constant([contents[0].numpy(), b"not an image"])
        )
    assert "index] [1]" in str(error.value)


def test_warmup_file_holds_one_valid_request_per_signature(served):
    _, _, version, _ = served
    requests = read_warmup_requests(f"{version}/assets.extra/{WARMUP_FILE}")
    model = tf.saved_model.load(version)
    expected = set(model.signatures) - {"serving_default"}
    assert {signature for signature, _ in requests} == expected
    for signature, inputs in requests:
        outputs = model.signatures[signature](
            **{name: tf.constant(value) for name, value in inputs.items()}
        )
        assert all(v.shape[0] == 1 for v in outputs.values()), signature


def test_tflite_retrieve_models_match_the_saved_model(raw_training, served):
    encoder = raw_training[1]
    _, split, version, tflite_dir = served
    model = tf.saved_model.load(version)
    manifest = json.loads((tflite_dir / "manifest.json").read_text())
    text_model = tflite_dir / "retrieve_with_text.tflite"
    assert manifest["retrieve_with_text.tflite"]["associated_files"] == [
        "ids.txt",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    files = tflite_retrieval.associated_files(text_model)
    rule = json.loads(files["tokenizer.json"])
    with zipfile.ZipFile(text_model) as archive:
        archive.extract("vocabulary.txt", tflite_dir)
    tokenize = CaptionTokenizer.from_file(
        tflite_dir / "vocabulary.txt", rule["sequence_length"]
    )
    captions = list(split.texts[:5])
    np.testing.assert_array_equal(
        tokenize(captions), encoder.text_vectorizer(np.asarray(captions))
    )
    ids, scores = TFLiteRetriever(text_model)(tokenize(captions))
    served_answer = model.signatures["retrieve_with_text"](texts=tf.constant(captions))
    assert rankings_agree(
        ids,
        scores,
        served_answer["ids"].numpy().astype(str),
        served_answer["scores"].numpy(),
    ).all()

    images = split.images[:5].astype(np.uint8)
    images = tf.image.resize(images, (16, 16), antialias=True)
    images = np.clip(np.rint(images.numpy()), 0, 255).astype(np.uint8)
    ids, scores = TFLiteRetriever(tflite_dir / "retrieve_with_image.tflite")(images)
    served_answer = model.signatures["retrieve_with_image"](images=images)
    assert rankings_agree(
        ids,
        scores,
        served_answer["ids"].numpy().astype(str),
        served_answer["scores"].numpy(),
    ).all()


def test_export_refuses_a_gallery_of_another_run(raw_training, served, tmp_path):
    other = tmp_path / "other_run"
    shutil.copytree(raw_training[0], other)
    config = json.loads((other / "config.json").read_text())
    config["training"]["seed"] += 1
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidInputError, match="was embedded with the run"):
        export_serving_model(other, tmp_path / "serving", gallery_dir=served[0])
    assert not (tmp_path / "serving").exists()


def test_a_split_gallery_exports_with_string_ids_in_parity(feature_run, tmp_path):
    model_dir = feature_run[0]
    gallery = tmp_path / "gallery"
    result = collection.embed_collection(model_dir, gallery, split="test", verbose=0)
    assert GalleryDirectory(gallery).ids[:2] == ["test/0", "test/1"]
    exported = export_serving_model(
        model_dir, tmp_path / "serving", gallery_dir=gallery, check_parity=True
    )
    assert exported["parity"]["retrieve_with_text_agreement"] == 1.0
    assert exported["parity"]["retrieve_with_image_agreement"] == 1.0
    assert result["count"] == len(GalleryDirectory(gallery).ids)


def test_client_sends_image_bytes_as_base64_and_reads_string_ids(served):
    gallery, _, version, _ = served
    signatures = client.load_signatures(version)
    path = GalleryDirectory(gallery).items[0]["path"]
    contents = tf.io.read_file(path).numpy()
    inputs = {"image_bytes": [contents]}
    body = client.rest_predict_body(signatures, "retrieve_with_image_bytes", inputs)
    (encoded,) = body["inputs"]["image_bytes"]
    assert base64.b64decode(encoded["b64"]) == contents
    json.dumps(body)  # What urllib sends.
    request = client.grpc_predict_request(
        signatures, "cmgan", "retrieve_with_image_bytes", inputs
    )
    # Served in-process as TF Serving would: the request's tensor, decoded.
    model = tf.saved_model.load(version)
    answer = model.signatures["retrieve_with_image_bytes"](
        image_bytes=tf.constant(tf.make_ndarray(request.inputs["image_bytes"]))
    )
    assert answer["ids"].numpy()[0, 0].decode() in GalleryDirectory(gallery).ids
    with pytest.raises(InvalidInputError, match="encoded images as bytes"):
        client.rest_predict_body(
            signatures, "retrieve_with_image_bytes", {"image_bytes": ["a.png"]}
        )
