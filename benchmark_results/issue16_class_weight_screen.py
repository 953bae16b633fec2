"""Issue 16 screen: choosing the class weight and temperature on validation.

Until stop 29 the `features` preset ranked by the standardised common
representation with the classifier's probabilities (temperature 0.5)
appended at weight 1. This screen asks whether choosing the weight and
temperature per run, on the validation pairs that chose the epoch
(`--choose_class_weighting`), beats those fixed values on pairs no choice has
seen. The trained members are the same either way: the choice is made after
training. It holds out a fifth of a dataset's training pairs
(stratified, seeded by `1000 + seed`) as a development test set, never the
dataset's test split, trains the preset as shipped (three members, each
refitted) on the rest, then scores a grid of weights and temperatures on the
validation pairs with the members' selection encoders (which never trained
on them) and on the development test set with the refitted members.

Usage (DATA is a dataset name, or a `.npz` file in the `npz` layout):
    for seed in 0 1 2; do
      python benchmark_results/issue16_class_weight_screen.py DATA $seed /tmp/cw/$seed
    done
"""

import itertools
import os
import sys

import numpy as np
from scipy.special import softmax

from cmgan_tf.data.registry import load_dataset
from cmgan_tf.data.splits import train_validation_split
from cmgan_tf.presets import preset
from cmgan_tf.retrieval.class_weighting import CLASS_WEIGHTS, TEMPERATURES
from cmgan_tf.retrieval.metrics import mean_average_precision
from cmgan_tf.runs import model_dir as run_files
from cmgan_tf.runs.trainer import train

# A wider grid than `--choose_class_weighting`'s (CLASS_WEIGHTS x TEMPERATURES),
# to see whether it should reach further: "chosen" is the choice within the
# shipped grid, "wider" within this one.
SCREEN_WEIGHTS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
SCREEN_TEMPERATURES = (0.25, 0.5, 1.0, 2.0)


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _parts(model_dir, split):
    """`{modality: (standardised unit common, class logits)}` of one encoder."""
    _, encoder = run_files.load_run(model_dir)
    arrays = {"image": split.images, "text": split.texts}
    parts = {}
    for modality, inputs in arrays.items():
        common = encoder.common_representation(inputs, modality)
        standardized = encoder.standardizations[modality](common)
        logits = getattr(encoder.generator, f"{modality}_classifier")(common)
        parts[modality] = (_unit(np.asarray(standardized)), np.asarray(logits))
    return parts


def _ensemble_vectors(members, modality, weight, temperature):
    """Concatenated member vectors whose cosine is the mean of the members'."""
    vectors = []
    for parts in members:
        standardized, logits = parts[modality]
        classes = _unit(softmax(logits / temperature, axis=1))
        combined = np.concatenate([standardized, classes * weight**0.5], axis=1)
        vectors.append(combined / (1.0 + weight) ** 0.5)
    return np.concatenate(vectors, axis=1) / len(vectors) ** 0.5


def _maps(members, split, weight, temperature):
    images = _ensemble_vectors(members, "image", weight, temperature)
    texts = _ensemble_vectors(members, "text", weight, temperature)
    labels = np.asarray(split.labels).argmax(1)
    return (
        mean_average_precision(images, texts, labels, labels),
        mean_average_precision(texts, images, labels, labels),
    )


def main(data, seed, model_dir):
    """Trains the preset and prints the fixed and the chosen settings' MAP."""
    if data.endswith(".npz"):
        dataset = load_dataset("npz", data)
        data_config = {"dataset": "npz", "data_dir": data}
    else:
        dataset, data_config = load_dataset(data), {"dataset": data}
    development, development_test = train_validation_split(
        dataset.train, 0.2, 1000 + seed
    )
    config = preset("features").replace(
        data=data_config,
        training={"seed": seed},
        model={"choose_class_weighting": False},
        runtime={"model_dir": model_dir, "verbose": 0},
    )
    if not run_files.is_finished(model_dir):
        train(
            config,
            overwrite=True,
            dataset=type(dataset)(
                dataset.name, development, development_test, dataset.multi_label
            ),
            preset_name="features",
        )
    _, validation = train_validation_split(
        development, config.data.validation_fraction, seed
    )
    size = config.training.ensemble_size
    members = [run_files.member_dir(model_dir, k) for k in range(size)]
    selection = [
        _parts(os.path.join(m, run_files.SELECTION_DIR), validation) for m in members
    ]
    refit = [
        _parts(os.path.join(m, run_files.REFIT_DIR), development_test) for m in members
    ]
    rows = []
    for weight, temperature in itertools.product(SCREEN_WEIGHTS, SCREEN_TEMPERATURES):
        rows.append(
            (
                weight,
                temperature,
                _maps(selection, validation, weight, temperature),
                _maps(refit, development_test, weight, temperature),
            )
        )
    for weight, temperature, val, test in rows:
        print(
            f"{data} seed {seed} weight {weight:5.2f} T {temperature:4.2f} "
            f"validation {val[0]:.4f} / {val[1]:.4f}  dev-test {test[0]:.4f} / "
            f"{test[1]:.4f}"
        )
    fixed = next(r for r in rows if r[0] == 1.0 and r[1] == 0.5)
    shipped = [r for r in rows if r[0] in CLASS_WEIGHTS and r[1] in TEMPERATURES]
    chosen = max(shipped, key=lambda r: sum(r[2]))
    wider = max(rows, key=lambda r: sum(r[2]))
    for name, (weight, temperature, val, test) in (
        ("fixed", fixed),
        ("chosen", chosen),
        ("wider", wider),
    ):
        print(
            f"RESULT {data} seed {seed} {name:6s} weight {weight} T {temperature} "
            f"validation {val[0]:.4f} / {val[1]:.4f}  dev-test {test[0]:.4f} / "
            f"{test[1]:.4f}"
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
