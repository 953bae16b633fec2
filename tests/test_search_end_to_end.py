"""Searching an unlabelled folder end to end, as a new user would.

A model is trained briefly on the generated shapes data; a folder of new,
unlabelled generated images (PNG and JPEG, one per class) and a captions file
are embedded with `cmgan-embed`; `cmgan-search --queries` then asks for each
image by its caption, and the SavedModel and TFLite retrieve model that
`cmgan-export --gallery_dir` writes answer the same queries with the same ids.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.data.dataset import CrossModalDataset
from cmgan_tf.data.demo import CLASS_NAMES, generate_shapes_split
from cmgan_tf.presets import preset
from cmgan_tf.retrieval.search import rankings_agree
from cmgan_tf.runs.trainer import train
from cmgan_tf.serving.litert import TFLiteRetriever
from cmgan_tf.serving.tflite_retrieval import associated_files
from cmgan_tf.serving.tokenizer import CaptionTokenizer


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    """Model directory of a run that matches captions to images by class.

    The settings of the `wikipedia` preset that make the common space a
    class space (shared classifier, class probabilities at a low temperature,
    no intra-modality game) on a small convolutional model: 6 epochs of 1024
    pairs of 16-pixel images, under a minute on two CPU cores.
    """
    model_dir = tmp_path_factory.mktemp("e2e") / "run"
    dataset = CrossModalDataset(
        "shapes",
        generate_shapes_split(1024, image_size=16, seed=1),
        generate_shapes_split(64, image_size=16, seed=2),
        multi_label=False,
        class_names=CLASS_NAMES,
    )
    config = preset("smoke").replace(
        data={"dataset": "shapes"},
        model={
            "image_filters": (16, 32),
            "image_trunk_units": 64,
            "vocabulary_size": 60,
            "sequence_length": 16,
            "embedding_dim": 16,
            "text_filters": 16,
            "encoder_units": (64,),
            "common_units": (32,),
            "decoder_units": (64,),
            "classifier": "shared",
            "representation": "class_probabilities",
            "temperature": 0.25,
        },
        loss={"intra_adversarial_weight": 0.0, "pair_distance_weight": 0.03},
        training={"epochs": 6, "batch_size": 32, "generator_steps": 1},
        runtime={"model_dir": str(model_dir)},
    )
    train(config, dataset=dataset)
    return model_dir


@pytest.fixture(scope="module")
def unlabelled_folder(tmp_path_factory):
    """`(folder, queries.txt, names)`: one new image per class.

    The images have the model's 16 pixels: the small model ranks shapes
    drawn at another size and resized much worse (resizing is tested with
    the stream in test_collection.py).
    """
    root = tmp_path_factory.mktemp("collection")
    split = generate_shapes_split(400, image_size=16, seed=7)
    classes = split.labels.argmax(axis=1)
    rows = [int(np.flatnonzero(classes == c)[0]) for c in range(len(CLASS_NAMES))]
    names, captions = [], []
    for number, row in enumerate(rows):
        name = f"{'png' if number % 2 else 'jpeg'}/photo_{number:02d}"
        name += ".png" if number % 2 else ".jpg"
        encode = tf.io.encode_png if number % 2 else tf.io.encode_jpeg
        (root / "photos" / name).parent.mkdir(parents=True, exist_ok=True)
        tf.io.write_file(str(root / "photos" / name), encode(split.images[row]))
        names.append(name)
        captions.append(str(split.texts[row]))
    (root / "queries.txt").write_text("".join(f"{c}\n" for c in captions))
    return root / "photos", root / "queries.txt", names


def _run(module, *flags):
    result = subprocess.run(
        [sys.executable, "-m", module, *flags],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _hits(stdout):
    """`{query line: [(id, score) of the hits]}` of `cmgan-search --queries`."""
    hits = {}
    for line in stdout.strip().split("\n"):
        if line.startswith("# "):
            query = int(line.split(", line ")[1].split(":")[0])
            hits[query] = []
        else:
            _, score, item_id, _ = line.split("\t")
            hits[query].append((item_id, float(score)))
    return hits


@pytest.mark.slow
def test_embed_search_serve_and_device_answer_alike(
    shapes_run, unlabelled_folder, tmp_path
):
    photos, queries, names = unlabelled_folder
    gallery = tmp_path / "gallery"
    stdout = _run(
        "pipelines.embed",
        f"--model_dir={shapes_run}",
        f"--images={photos}",
        f"--output={gallery}",
    )
    assert f"{len(names)} items ({len(names)} added)" in stdout
    hits = _hits(
        _run(
            "pipelines.search",
            f"--model_dir={shapes_run}",
            f"--gallery={gallery}",
            f"--queries={queries}",
            "--top_k=5",
        )
    )
    assert sorted(hits) == list(range(1, len(names) + 1))
    found = [names[line - 1] in dict(found) for line, found in hits.items()]
    # One image per class: a random ranking finds it in the top 5 of 16 for
    # about 5 queries in 16.
    assert sum(found) >= 12, hits

    # The same queries through the exported SavedModel and TFLite model.
    for export_format in ("saved_model", "tflite"):
        _run(
            "export.export",
            f"--model_dir={shapes_run}",
            f"--gallery_dir={gallery}",
            f"--export_dir={tmp_path / export_format}",
            f"--format={export_format}",
            "--tflite_variants=float32",
            "--top_k=5",
        )
    captions = queries.read_text().splitlines()
    cli_ids = [[i for i, _ in hits[line]] for line in sorted(hits)]
    cli_scores = [[score for _, score in hits[line]] for line in sorted(hits)]
    served = tf.saved_model.load(str(tmp_path / "saved_model" / "cmgan" / "1"))
    answer = served.signatures["retrieve_with_text"](texts=tf.constant(captions))
    served_ids = answer["ids"].numpy().astype(str)
    # The command line prints scores to 4 decimals.
    assert rankings_agree(
        served_ids, answer["scores"].numpy(), cli_ids, cli_scores, atol=1e-4
    ).all()

    model = tmp_path / "tflite" / "retrieve_with_text.tflite"
    files = associated_files(model)
    vocabulary = tmp_path / "vocabulary.txt"
    vocabulary.write_bytes(files["vocabulary.txt"])
    length = json.loads(files["tokenizer.json"])["sequence_length"]
    tokens = CaptionTokenizer.from_file(vocabulary, length)(captions)
    device_ids, device_scores = TFLiteRetriever(model)(tokens)
    assert rankings_agree(
        device_ids, device_scores, served_ids, answer["scores"].numpy()
    ).all()
