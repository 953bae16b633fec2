"""Issue 16 screen: whether `--refit` beats the run that chose its epoch.

Holds out a fifth of a dataset's training pairs (stratified, seeded by
`1000 + seed`) as a development test set, never the dataset's test split,
and trains one member of the `features` preset with `--refit` on the rest:
its selection run carves validation pairs and chooses the epoch on them, as
`cmgan-train` without `--refit` does, and its second run trains on all of
the rest for that many epochs. Prints MAP@all and recall@10 of the true
partner of both encoders on the development test set.

Usage (DATA is a dataset name, or a `.npz` file in the `npz` layout):
    for seed in 0 1 2; do
      python benchmark_results/issue16_refit_screen.py DATA $seed /tmp/refit/$seed
    done
"""

import os
import sys

import numpy as np

from cmgan_tf.data.registry import load_dataset
from cmgan_tf.data.splits import train_validation_split
from cmgan_tf.presets import preset
from cmgan_tf.retrieval.instance import recall_at_k
from cmgan_tf.retrieval.metrics import mean_average_precision
from cmgan_tf.runs import model_dir as run_files
from cmgan_tf.runs.trainer import train


def _normalized(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _scores(model_dir, split):
    """MAP I->T, T->I and recall@10 I->T, T->I of a run's encoder on `split`."""
    _, encoder = run_files.load_run(model_dir)
    images = _normalized(np.asarray(encoder.predict_arrays(split.images, "image")))
    texts = _normalized(np.asarray(encoder.predict_arrays(split.texts, "text")))
    labels = np.asarray(split.labels).argmax(1)
    partners = np.arange(len(images))
    return (
        mean_average_precision(images, texts, labels, labels),
        mean_average_precision(texts, images, labels, labels),
        recall_at_k(images, texts, partners, k_values=(10,))[10],
        recall_at_k(texts, images, partners, k_values=(10,))[10],
    )


def main(data, seed, model_dir):
    """Trains the run with `--refit` and prints both encoders' figures."""
    if data.endswith(".npz"):
        dataset, data_config = load_dataset("npz", data), {"dataset": "npz"}
        data_config["data_dir"] = data
    else:
        dataset, data_config = load_dataset(data), {"dataset": data}
    development, development_test = train_validation_split(
        dataset.train, 0.2, 1000 + seed
    )
    config = preset("features").replace(
        data=data_config,
        training={"seed": seed, "ensemble_size": 1, "refit": True},
        runtime={"model_dir": model_dir, "verbose": 0},
    )
    metrics = train(
        config,
        overwrite=True,
        dataset=type(dataset)(
            dataset.name, development, development_test, dataset.multi_label
        ),
        preset_name="features",
    )
    for name in (run_files.SELECTION_DIR, run_files.REFIT_DIR):
        map_i2t, map_t2i, r_i2t, r_t2i = _scores(
            os.path.join(model_dir, name), development_test
        )
        print(
            f"{data} seed {seed} {name:9s} epochs {metrics['best_epoch']:3d} "
            f"MAP I->T {map_i2t:.4f} T->I {map_t2i:.4f}  "
            f"R@10 I->T {r_i2t:.3f} T->I {r_t2i:.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
