"""Speed of searching your own collection: embedding, search, on-device retrieval.

- `measure_embedding`: `cmgan-embed` on a folder of JPEG files and a caption
  file, run as the command line is, in a child process whose peak resident
  memory is read back (`os.wait4`), at two collection sizes, so that memory
  growing with the collection shows;
- `measure_search`: exact search (`top_k_search`) and the faiss index of
  `cmgan-search --backend=faiss` on clustered unit vectors, queries/s and the
  index's recall@10 against exact search;
- `measure_tflite_retrieval`: one query through a `retrieve_with_text`
  TFLite model with the gallery inside, on one thread.
"""

import contextlib
import os
import re
import subprocess
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

from cmgan_tf.benchmarks.timing import median_seconds
from cmgan_tf.data.demo import CLASS_NAMES, generate_shapes_split
from cmgan_tf.retrieval import ann
from cmgan_tf.retrieval.search import top_k_search

# Images generated per call, so that writing a large folder takes bounded memory.
_CHUNK = 1000


def write_collection(directory, count, *, image_size=32, seed=0, tables=False):
    """Writes `count` generated JPEG images and a `captions.tsv` pairing them.

    Args:
        directory: Where to write (created if needed).
        count: Number of images.
        image_size: Side of the images.
        seed: Seed of the first chunk of generated pairs.
        tables: Also write `train.tsv` (every pair, with its class) and
            `test.tsv` (the first 100), the `image_captions` dataset layout.

    Returns:
        `(images_dir, captions_file)`.
    """
    images = os.path.join(directory, "images")
    os.makedirs(images, exist_ok=True)
    captions = os.path.join(directory, "captions.tsv")
    with contextlib.ExitStack() as files:
        handle = files.enter_context(open(captions, "w", encoding="utf-8"))
        if tables:
            train, test = (
                files.enter_context(
                    open(os.path.join(directory, name), "w", encoding="utf-8")
                )
                for name in ("train.tsv", "test.tsv")
            )
        for start in range(0, count, _CHUNK):
            split = generate_shapes_split(
                min(_CHUNK, count - start), image_size=image_size, seed=seed + start
            )
            for offset, (image, caption, label) in enumerate(
                zip(split.images, split.texts, split.labels, strict=True)
            ):
                row = start + offset
                name = f"{row:07d}.jpg"
                tf.io.write_file(
                    os.path.join(images, name), tf.io.encode_jpeg(image, quality=90)
                )
                handle.write(f"{name}\t{caption}\n")
                if tables:
                    line = f"images/{name}\t{CLASS_NAMES[label.argmax()]}\t{caption}\n"
                    train.write(line)
                    if row < 100:
                        test.write(line)
    return images, captions


def run_with_peak_rss(module, flags, what):
    """Runs `python -m module *flags`; returns `(stdout, peak resident MiB)`.

    Args:
        module: The module to run, e.g. `"pipelines.embed"`.
        flags: List of its command-line arguments.
        what: The command's name, for the error if it fails.

    Raises:
        RuntimeError: if the command fails, with its output.
    """
    # stderr goes to a file, not a pipe: `communicate` would reap the child
    # before `wait4` could read its resource usage.
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *flags],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        stdout = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        if status:
            stderr.seek(0)
            raise RuntimeError(f"{what} failed: {stdout}{stderr.read()[-3000:]}")
    # Linux reports ru_maxrss in KiB.
    return stdout, usage.ru_maxrss / 1024


def _run_embed(model_dir, output, flags):
    """Runs cmgan-embed; returns `(stdout, peak resident MiB)`."""
    return run_with_peak_rss(
        "pipelines.embed",
        [f"--model_dir={model_dir}", f"--output={output}", *flags],
        "cmgan-embed",
    )


def measure_embedding(model_dir, directory, sizes):
    """Embeds folders of `sizes` JPEG images with captions through cmgan-embed.

    Args:
        model_dir: A finished run on raw images and captions.
        directory: Scratch directory.
        sizes: Collection sizes, smallest first.

    Returns:
        List per size of dicts: `items`, `images_per_s`, `captions_per_s`
        (as cmgan-embed reports them) and `peak_rss_mb` of the process.
    """
    rows = []
    for size in sizes:
        root = os.path.join(directory, f"collection_{size}")
        images, captions = write_collection(root, size)
        stdout, peak = _run_embed(
            model_dir,
            os.path.join(root, "gallery"),
            [f"--images={images}", f"--captions={captions}"],
        )
        rates = dict(re.findall(r"^(image|text): ([\d.]+) items/s$", stdout, re.M))
        rows.append(
            {
                "items": size,
                "images_per_s": float(rates["image"]),
                "captions_per_s": float(rates["text"]),
                "peak_rss_mb": peak,
            }
        )
    return rows


def clustered_unit_vectors(count, dim, *, clusters=256, seed=0):
    """`(count, dim)` float32 unit vectors around `clusters` random centres.

    Embeddings of a trained model gather around their classes; uniformly
    random vectors would be the worst case for an inverted-file index.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), np.float32)
    vectors = np.empty((count, dim), np.float32)
    for start in range(0, count, 65536):
        size = min(65536, count - start)
        chunk = centres[rng.integers(0, clusters, size)]
        chunk += 0.6 * rng.standard_normal((size, dim), np.float32)
        vectors[start : start + size] = chunk / np.linalg.norm(
            chunk, axis=1, keepdims=True
        )
    return vectors


def measure_search(gallery_size, dim, *, num_queries=64, k=10, repeats=5):
    """Queries/s of exact and faiss search, and faiss's recall@`k`.

    Args:
        gallery_size: Items in the gallery.
        dim: Size of the embeddings.
        num_queries: Queries per call (one batch).
        k: Hits per query.
        repeats: Timed calls; medians are reported.

    Returns:
        Dict with `gallery_size`, `exact_qps`, `faiss_qps`, `faiss_build_s`,
        `faiss_nlist`, `faiss_nprobe` and `faiss_recall_at_10`.
    """
    gallery = clustered_unit_vectors(gallery_size, dim, seed=1)
    # Queries near the gallery's clusters, none of them a gallery item.
    queries = clustered_unit_vectors(num_queries, dim, seed=1)
    queries = queries + 0.2 * clustered_unit_vectors(num_queries, dim, seed=2)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = median_seconds(
        lambda: top_k_search(queries, gallery, k, block_size=num_queries),
        repeats=repeats,
    )
    build = median_seconds(lambda: ann.build_index(gallery), repeats=1, warmup=0)
    index = ann.build_index(gallery)
    approximate = median_seconds(
        lambda: ann.ann_search(index, queries, k), repeats=repeats
    )
    return {
        "gallery_size": gallery_size,
        "dim": dim,
        "exact_qps": num_queries / exact["median_s"],
        "faiss_qps": num_queries / approximate["median_s"],
        "faiss_build_s": build["median_s"],
        "faiss_nlist": int(index.nlist),
        "faiss_nprobe": int(index.nprobe),
        "faiss_recall_at_10": ann.recall_at_k(index, gallery, queries, k=10),
    }


def measure_tflite_retrieval(encoder, captions, directory, gallery_size, *, repeats):
    """Milliseconds of one caption query through a TFLite retrieve model.

    Args:
        encoder: A `CrossModalEncoder` with a raw-caption text side.
        captions: Captions to query with (the first is timed).
        directory: Where the model is written.
        gallery_size: Items of the image gallery inside the model.
        repeats: Timed calls.

    Returns:
        Dict with `gallery_size`, `single_ms` (one thread) and `model_kb`.
    """
    from cmgan_tf.serving.litert import TFLiteRetriever
    from cmgan_tf.serving.tflite import tflite_input_spec
    from cmgan_tf.serving.tflite_retrieval import retrieval_model

    dim = int(encoder.encode(np.asarray(captions[:1]), "text").shape[-1])
    gallery = clustered_unit_vectors(gallery_size, dim, seed=3)
    model = retrieval_model(
        encoder,
        "text",
        tflite_input_spec(encoder, "text"),
        gallery,
        [str(i) for i in range(gallery_size)],
        top_k=10,
    )
    path = os.path.join(directory, "retrieve_with_text.tflite")
    with open(path, "wb") as handle:
        handle.write(model)
    retriever = TFLiteRetriever(path, num_threads=1)
    query = keras.ops.convert_to_numpy(encoder.tokenize(np.asarray(captions[:1])))
    timing = median_seconds(lambda: retriever(query), repeats=repeats, warmup=3)
    return {
        "gallery_size": gallery_size,
        "single_ms": 1000 * timing["median_s"],
        "model_kb": len(model) / 1024,
    }
