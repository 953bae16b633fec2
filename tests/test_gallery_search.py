"""cmgan-embed and cmgan-search: gallery directories, appending, bad items, search."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.data.demo import generate_shapes_split
from cmgan_tf.data.image_stream import decode_image
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.retrieval import ann
from cmgan_tf.retrieval.gallery_dir import GalleryDirectory
from cmgan_tf.runs import collection, search


def write_collection(folder, count, *, seed=5, size=24):
    """Writes `count` generated images (PNG and JPEG) and a captions .tsv."""
    split = generate_shapes_split(count, image_size=size, seed=seed)
    lines = []
    for row, (image, caption) in enumerate(zip(split.images, split.texts, strict=True)):
        name = f"sub/{seed}_{row}.png" if row % 2 else f"{seed}_{row}.jpg"
        path = folder / "photos" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        encode = tf.io.encode_png if name.endswith(".png") else tf.io.encode_jpeg
        tf.io.write_file(str(path), encode(image))
        lines.append(f"{name}\t{caption}\n")
    (folder / f"captions_{seed}.tsv").write_text("".join(lines))
    return folder / "photos", folder / f"captions_{seed}.tsv", split


def _listing(path):
    return sorted(os.listdir(path))


def test_embed_writes_a_memory_mappable_gallery_of_the_run(raw_training, tmp_path):
    model_dir, encoder, _ = raw_training
    photos, captions, split = write_collection(tmp_path, 6)
    output = tmp_path / "gallery"
    result = collection.embed_collection(
        model_dir, output, images=photos, captions=captions, verbose=0
    )
    assert result["added"] == result["count"] == 6 and not result["skipped"]
    gallery = GalleryDirectory(output)
    assert gallery.modalities == ("image", "text")
    assert gallery.ids == sorted(line.split("\t")[0] for line in open(captions))
    images = gallery.embeddings("image")
    assert isinstance(images, np.memmap) and images.shape == (6, gallery.dim)
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)

    # Row i is the embedding of item i's file, decoded as the stream does.
    item = gallery.items[0]
    pixels = decode_image(tf.io.read_file(item["path"]), (16, 16))[None]
    np.testing.assert_allclose(images[0], encoder.encode(pixels, "image")[0], atol=1e-5)
    texts = gallery.embeddings("text")
    np.testing.assert_allclose(
        texts[0], encoder.encode(np.asarray([item["caption"]]), "text")[0], atol=1e-5
    )
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["run"]["model_dir"] == os.path.abspath(model_dir)
    assert len(manifest["run"]["fingerprint"]) == 16
    assert _listing(tmp_path) == ["captions_5.tsv", "gallery", "photos"]


def test_embedding_again_adds_items_and_refuses_clashing_ids(raw_training, tmp_path):
    model_dir = raw_training[0]
    photos, captions, _ = write_collection(tmp_path / "first", 4, seed=5)
    output = tmp_path / "gallery"
    collection.embed_collection(
        model_dir, output, images=photos, captions=captions, verbose=0
    )
    before = np.array(GalleryDirectory(output).embeddings("image"))
    more, more_captions, _ = write_collection(tmp_path / "more", 3, seed=6)
    result = collection.embed_collection(
        model_dir, output, images=more, captions=more_captions, verbose=0
    )
    gallery = GalleryDirectory(output)
    assert (result["added"], gallery.count) == (3, 7)
    np.testing.assert_array_equal(gallery.embeddings("image")[:4], before)
    assert len(gallery.manifest["sources"]) == 2

    with pytest.raises(InvalidInputError, match="already in the gallery"):
        collection.embed_collection(
            model_dir, output, images=more, captions=more_captions, verbose=0
        )
    assert GalleryDirectory(output).count == 7
    with pytest.raises(InvalidInputError, match="same modalities"):
        collection.embed_collection(model_dir, output, images=more, verbose=0)


def test_a_gallery_of_another_run_is_refused_by_name(raw_training, tmp_path):
    model_dir = raw_training[0]
    photos, _, _ = write_collection(tmp_path, 2)
    output = tmp_path / "gallery"
    collection.embed_collection(model_dir, output, images=photos, verbose=0)
    other = tmp_path / "other_run"
    shutil.copytree(model_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["training"]["seed"] += 1
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidInputError, match=f"embedded with the run {model_dir}"):
        collection.embed_collection(other, output, images=photos, verbose=0)
    with pytest.raises(InvalidInputError, match="not with --model_dir="):
        search.search_gallery(other, output, search.read_queries(text="a red circle"))


def test_bad_items_fail_with_nothing_written_or_are_skipped(raw_training, tmp_path):
    model_dir = raw_training[0]
    photos, _, _ = write_collection(tmp_path, 3)
    (photos / "broken.png").write_bytes(b"\x89PNG but truncated")
    output = tmp_path / "gallery"
    with pytest.raises(InvalidInputError, match=r"broken.png: could not decode"):
        collection.embed_collection(model_dir, output, images=photos, verbose=0)
    assert not output.exists()
    assert _listing(tmp_path) == ["captions_5.tsv", "photos"]

    result = collection.embed_collection(
        model_dir, output, images=photos, on_bad_item="skip", verbose=0
    )
    assert [str(item) for item in result["skipped"]] == [
        f"{photos / 'broken.png'}: could not decode as PNG, JPEG, GIF or BMP "
        "(damaged or not an image)"
    ]
    assert "broken.png" not in GalleryDirectory(output).ids
    assert GalleryDirectory(output).count == 3


def test_bad_caption_lines_are_all_named_before_anything_runs(raw_training, tmp_path):
    captions = tmp_path / "captions.txt"
    captions.write_bytes(b"a red circle\n\n\xffbad\n")
    with pytest.raises(InvalidInputError) as error:
        collection.embed_collection(
            raw_training[0], tmp_path / "g", captions=captions, verbose=0
        )
    assert f"{captions}, line 2: empty caption" in str(error.value)
    assert f"{captions}, line 3: not valid UTF-8" in str(error.value)
    assert not (tmp_path / "g").exists()


def test_exact_and_faiss_search_return_the_gallery_ranking(raw_training, tmp_path):
    model_dir, encoder, _ = raw_training
    photos, captions, split = write_collection(tmp_path, 8)
    output = tmp_path / "gallery"
    result = collection.embed_collection(
        model_dir, output, images=photos, captions=captions, build_ann=True, verbose=0
    )
    assert set(result["ann_recall_at_10"]) == {"image", "text"}
    gallery = GalleryDirectory(output)
    assert gallery.manifest["ann"]["image"] == {
        "file": "image_ivf.faiss",
        "nprobe": ann.DEFAULT_NPROBE,
        "recall_at_10": result["ann_recall_at_10"]["image"],
    }
    query = split.texts[3]
    hits = search.search_gallery(
        model_dir, output, search.read_queries(text=query), top_k=4
    )[0]
    # A text query ranks the images: the scores are those of a brute force.
    scores = (
        gallery.embeddings("image")
        @ np.asarray(encoder.encode(np.asarray([query]), "text"))[0]
    )
    expected = [gallery.ids[row] for row in np.argsort(-scores)[:4]]
    assert [hit["id"] for hit in hits] == expected
    np.testing.assert_allclose(
        [hit["score"] for hit in hits], np.sort(scores)[::-1][:4], atol=1e-5
    )
    assert all("caption" in hit and "path" in hit for hit in hits)
    faiss_hits = search.search_gallery(
        model_dir,
        output,
        search.read_queries(text=query),
        top_k=4,
        backend="faiss",
    )[0]
    assert [hit["id"] for hit in faiss_hits] == expected

    image_hits = search.search_gallery(
        model_dir, output, search.read_queries(image=str(photos)), top_k=2
    )
    assert len(image_hits) == 8 and all(len(h) == 2 for h in image_hits)


def test_faiss_backend_without_index_or_without_faiss_is_a_clear_error(
    raw_training, tmp_path, monkeypatch
):
    model_dir = raw_training[0]
    photos, _, _ = write_collection(tmp_path, 2)
    collection.embed_collection(model_dir, tmp_path / "g", images=photos, verbose=0)
    query = search.read_queries(text="a red circle")
    with pytest.raises(InvalidInputError, match="re-run cmgan-embed with --ann"):
        search.search_gallery(model_dir, tmp_path / "g", query, backend="faiss")
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(InvalidInputError, match=r'pip install "cmgan_tf\[ann\]"'):
        ann.import_faiss()


def test_ivf_index_recall_against_exact_search():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((32, 16))
    vectors = centres[rng.integers(0, 32, 4000)] + 0.5 * rng.standard_normal((4000, 16))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(
        np.float32
    )
    index = ann.build_index(vectors)
    # About 4 * sqrt(n) lists, at most one per 39 training points.
    assert index.nlist == min(int(4 * np.sqrt(4000)), 4000 // 39)
    assert ann.recall_at_k(index, vectors, vectors[:200]) > 0.95
    # Scanning every list is exact search.
    index.nprobe = index.nlist
    assert ann.recall_at_k(index, vectors, vectors[:200]) == 1.0


@pytest.mark.slow
def test_command_lines_print_hits_and_one_line_errors(raw_training, tmp_path):
    model_dir = raw_training[0]
    photos, captions, split = write_collection(tmp_path, 4)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def run(module, *flags):
        return subprocess.run(
            [sys.executable, "-m", module, *flags],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    gallery = tmp_path / "gallery"
    embedded = run(
        "pipelines.embed",
        f"--model_dir={model_dir}",
        f"--images={photos}",
        f"--captions={captions}",
        f"--output={gallery}",
    )
    assert embedded.returncode == 0, embedded.stderr[-2000:]
    assert f"Wrote {gallery}: 4 items (4 added)." in embedded.stdout
    searched = run(
        "pipelines.search",
        f"--model_dir={model_dir}",
        f"--gallery={gallery}",
        f"--text={split.texts[0]}",
        "--top_k=3",
    )
    assert searched.returncode == 0, searched.stderr[-2000:]
    lines = searched.stdout.strip().split("\n")
    assert len(lines) == 3
    rank, score, item_id, caption = lines[0].split("\t")
    assert rank == "1" and float(score) <= 1.0
    assert item_id in GalleryDirectory(gallery).ids and caption

    failed = run(
        "pipelines.search",
        f"--model_dir={model_dir}",
        f"--gallery={gallery}",
        "--text=a",
        f"--image={photos}",
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == (
        "cmgan-search: error: Give exactly one of --text, --image or --queries. "
        "Received: --text, --image."
    )
    assert "Traceback" not in failed.stderr


def test_feature_files_are_embedded_and_nan_rows_reported(feature_run, tmp_path):
    model_dir, encoder = feature_run
    split = encoder.get_build_config()["input_shape"]
    rng = np.random.default_rng(0)
    images = rng.normal(size=(5, split["image"][1])).astype(np.float32)
    texts = rng.normal(size=(5, split["text"][1])).astype(np.float32)
    images[2, 0] = np.nan
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "texts.npy", texts)
    output = tmp_path / "gallery"
    with pytest.raises(InvalidInputError, match=r"images.npy, row 2: holds NaN"):
        collection.embed_collection(
            model_dir,
            output,
            images=tmp_path / "images.npy",
            captions=tmp_path / "texts.npy",
            verbose=0,
        )
    result = collection.embed_collection(
        model_dir,
        output,
        images=tmp_path / "images.npy",
        captions=tmp_path / "texts.npy",
        on_bad_item="skip",
        verbose=0,
    )
    assert [str(item) for item in result["skipped"]] == [
        f"{tmp_path / 'images.npy'}, row 2: holds NaN or Inf"
    ]
    gallery = GalleryDirectory(output)
    assert gallery.ids == ["0", "1", "3", "4"]
    np.testing.assert_allclose(
        gallery.embeddings("text"),
        encoder.predict_arrays(texts[[0, 1, 3, 4]], "text"),
        atol=1e-5,
    )


def test_a_split_of_a_named_dataset_is_embedded_if_the_encoder_takes_it(
    feature_run, tmp_path
):
    model_dir = feature_run[0]
    result = collection.embed_collection(
        model_dir,
        tmp_path / "train",
        split="train",
        dataset="wikipedia_classic",
        verbose=0,
    )
    gallery = GalleryDirectory(tmp_path / "train")
    assert gallery.count == result["added"] > 0
    assert gallery.ids[-1] == f"train/{gallery.count - 1}"
    with pytest.raises(InvalidInputError, match="This run's image encoder takes"):
        collection.embed_collection(
            model_dir, tmp_path / "shapes", split="test", dataset="shapes", verbose=0
        )
    assert not (tmp_path / "shapes").exists()
