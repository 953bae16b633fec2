"""Issue 16: the `shapes` preset against semantic matching and CCA on `shapes`.

The classic baselines need feature vectors, and `shapes` holds pixels and
caption strings, so they get the plainest features of each: the pixels
(scaled to [0, 1]) reduced by PCA fitted on the training images, and counts of
the captions' words and word n-grams (scikit-learn's `CountVectorizer`, fitted
on the training captions). Every feature setting below is scored and printed,
and the comparison is with the baselines' best setting on the test split,
which flatters them. (Word trigrams too, 2737 of them, scored the same as
bigrams, 0.539 / 0.440 semantic matching, and took CCA 18 minutes.) The
`shapes` preset is trained once per seed in the same run, each run's epoch
chosen on its validation split, as `cmgan-train` does.

Usage:
    python benchmark_results/issue16_shapes_baselines.py [SEEDS]
e.g. `... 0,1,2`; prints one line per configuration.
"""

import sys
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import CountVectorizer

from cmgan_tf import presets
from cmgan_tf.benchmarks import quality
from cmgan_tf.config import DataConfig
from cmgan_tf.data.dataset import PairedSplit
from cmgan_tf.data.registry import load_dataset

# (PCA components of the pixels, word n-gram range of the captions)
FEATURE_SETTINGS = ((64, (1, 1)), (64, (1, 2)), (256, (1, 2)))
CCA_COMPONENTS = 32


def _pixels(split):
    return split.images.reshape(len(split.images), -1).astype("float32") / 255


def _captions(split):
    return [str(text) for text in split.texts]


def _featurised(dataset, components, ngram_range):
    """The dataset's splits as `PairedSplit`s of PCA pixels and n-gram counts."""
    pca = PCA(components, random_state=0).fit(_pixels(dataset.train))
    words = CountVectorizer(ngram_range=ngram_range).fit(_captions(dataset.train))

    def featurised(split):
        texts = words.transform(_captions(split)).toarray().astype("float32")
        return PairedSplit(pca.transform(_pixels(split)), texts, split.labels)

    return featurised(dataset.train), featurised(dataset.test)


def _rounded(values):
    return "[" + ", ".join(f"{value:.3f}" for value in values) + "]"


def _line(name, scores):
    def value(key):
        if f"{key}_mean" in scores:
            return f"{scores[f'{key}_mean']:.3f} ± {scores[f'{key}_std']:.3f}"
        return f"{scores[key]:.3f}"

    return (
        f"{name}: MAP {value('map_image_to_text')} / {value('map_text_to_image')}, "
        + ", ".join(
            f"R@{k} {value(f'recall@{k}_image_to_text')} / "
            f"{value(f'recall@{k}_text_to_image')}"
            for k in quality.RECALL_K_VALUES
        )
    )


def main(seeds):
    """Prints the baselines' test scores, then the preset's over `seeds`."""
    dataset = load_dataset("shapes")
    for components, ngram_range in FEATURE_SETTINGS:
        started = time.perf_counter()
        train, test = _featurised(dataset, components, ngram_range)
        setting = (
            f"PCA {components}, {ngram_range[1]}-grams, {train.texts.shape[1]} words"
        )
        for name, scores in (
            (
                "semantic matching",
                quality.semantic_matching_scores(train, test, DataConfig()),
            ),
            (
                "CCA",
                quality.cca_scores(
                    train, test, DataConfig(), components=CCA_COMPONENTS
                ),
            ),
        ):
            print(f"{_line(f'{name} ({setting})', scores)}", flush=True)
        print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    for name, summary in quality.cmgan_scores(
        presets.preset("shapes"), seeds, dataset
    ).items():
        print(
            _line(f"--preset=shapes ranks {name}", summary)
            + f", per seed {_rounded(summary['map_image_to_text'])} / "
            f"{_rounded(summary['map_text_to_image'])}"
            + f", epochs kept {summary['best_epoch']}, validation MAP "
            f"{np.mean(summary['validation_map_image_to_text']):.3f} / "
            f"{np.mean(summary['validation_map_text_to_image']):.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main([int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "0,1,2").split(",")])
