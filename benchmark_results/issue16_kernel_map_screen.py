"""Issue 16 screen: validation MAP of the `features` preset under image feature maps.

Prints the mean validation MAP (I→T / T→I) over seeds of runs of the
`features` preset, each run's epoch chosen on its validation split; the test
split is never looked at (`cmgan_scores` scores it, this script does not
print it). The map is one of:

- `preset`: as shipped (since stop 24, the in-graph Nyström map on images);
- `none`: no kernel map (the preset before stop 24);
- `sklearn-chi2:GAMMA:N` / `sklearn-rbf:SCALE:N`: scikit-learn's `Nystroem`
  applied to the image features beforehand (exponential chi-square kernel on
  the raw histograms; Gaussian kernel on their square roots with gamma =
  SCALE / median squared distance), fitted without labels on the whole
  training split, the preset's own map off.

Usage:
    python benchmark_results/issue16_kernel_map_screen.py MAP [OVERRIDES] [SEEDS]
e.g. `... preset '{"training": {"learning_rate": 0.003}}' 0,1,2`; with
`DATA=synth.npz` the `npz` file of `quality_issue16.md` instead of
wikipedia_classic.
"""

import json
import os
import sys

import numpy as np
from sklearn.kernel_approximation import Nystroem
from sklearn.metrics.pairwise import euclidean_distances

from cmgan_tf import presets
from cmgan_tf.benchmarks.quality import cmgan_scores
from cmgan_tf.data.dataset import CrossModalDataset, PairedSplit
from cmgan_tf.data.registry import load_dataset


def _mapped(data, image_map):
    def split(s):
        return PairedSplit(image_map(s.images), s.texts, s.labels)

    return CrossModalDataset(
        data.name,
        split(data.train),
        split(data.test),
        multi_label=data.multi_label,
        class_names=data.class_names,
    )


def _sklearn_map(kind, scale, components, train_images):
    train = np.asarray(train_images, np.float64)
    if kind == "sklearn-chi2":
        nystroem = Nystroem(
            kernel="chi2", gamma=scale, n_components=components, random_state=0
        ).fit(train)
        return lambda x: nystroem.transform(np.asarray(x, np.float64)).astype("f4")
    roots = np.sqrt(np.maximum(train, 0))
    sample = roots[np.random.default_rng(0).choice(len(roots), 500, replace=False)]
    distances = euclidean_distances(sample, squared=True)
    median = np.median(distances[np.triu_indices(len(sample), 1)])
    nystroem = Nystroem(
        kernel="rbf", gamma=scale / median, n_components=components, random_state=0
    ).fit(roots)
    return lambda x: nystroem.transform(
        np.sqrt(np.maximum(np.asarray(x, np.float64), 0))
    ).astype("f4")


def main(image_map, overrides, seeds):
    """Trains the preset once per seed under `image_map` and prints the means."""
    if os.environ.get("DATA"):
        data = load_dataset("npz", os.environ["DATA"])
    else:
        data = load_dataset("wikipedia_classic")
    config = presets.preset("features")
    if image_map != "preset":
        config = config.replace(data={"image_kernel_landmarks": 0})
    if image_map.startswith("sklearn-"):
        kind, scale, components = image_map.split(":")
        data = _mapped(
            data, _sklearn_map(kind, float(scale), int(components), data.train.images)
        )
        config = config.replace(data={"image_transform": "none"})
    for section, values in overrides.items():
        config = config.replace(**{section: values})
    for name, summary in cmgan_scores(config, seeds, data).items():
        print(
            f"{image_map} {json.dumps(overrides)} ranks {name}: validation MAP "
            f"{np.mean(summary['validation_map_image_to_text']):.3f} / "
            f"{np.mean(summary['validation_map_text_to_image']):.3f}, "
            f"epochs kept {summary['best_epoch']}"
        )


if __name__ == "__main__":
    main(
        sys.argv[1],
        json.loads(sys.argv[2]) if len(sys.argv) > 2 else {},
        [int(s) for s in (sys.argv[3] if len(sys.argv) > 3 else "0,1,2").split(",")],
    )
