"""Issue 16 screen: whether re-ranking the common representation raises MAP.

Trains the `features` preset on a dataset (or reuses the run in `model_dir`),
embeds its validation split (carved as training carves it, seeded by the run's
seed) and prints MAP@all and recall@10 of the true partner for:

- `base`: cosine similarity of the common representation, as search ranks;
- `qe{k}`: query expansion, the query moved to the mean of itself and its top
  k gallery items, then searched again;
- `qe{k}a3`: the same with each of the k items weighted by its similarity
  cubed (alpha query expansion, alpha = 3);
- `dba{k}`: database-side augmentation, each gallery item replaced by the
  mean of its k nearest gallery items of the same modality;
- `dba+qe{k}`: both.

The validation split is scored to choose; `--test` also prints the test
split's figures beside them, which are not to choose by.

Usage:
    python benchmark_results/issue16_rerank_screen.py wikipedia_classic 0 DIR [--test]
"""

import os
import sys

import numpy as np

from cmgan_tf.presets import preset
from cmgan_tf.retrieval.instance import recall_at_k
from cmgan_tf.retrieval.metrics import mean_average_precision
from cmgan_tf.runs import model_dir as run_files
from cmgan_tf.runs.trainer import prepare_data, train


def _normalized(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _map_and_recall(queries, gallery, labels):
    """MAP@all (class relevance) and recall@10 of each query's partner row."""
    partners = np.arange(len(queries))
    return (
        mean_average_precision(queries, gallery, labels, labels),
        recall_at_k(queries, gallery, partners, k_values=(10,))[10],
    )


def _neighbour_mean(queries, gallery, k, keep_query, alpha=0):
    similarity = queries @ gallery.T
    top = np.argsort(-similarity, axis=1)[:, :k]
    weights = np.maximum(np.take_along_axis(similarity, top, axis=1), 0) ** alpha
    expanded = (gallery[top] * weights[..., None]).sum(axis=1)
    return _normalized(expanded + queries if keep_query else expanded)


def _rows(images, texts, labels):
    """Each ranking's `((MAP, R@10) I->T, (MAP, R@10) T->I)`, by name."""

    def both(query_images, gallery_texts, query_texts, gallery_images):
        return (
            _map_and_recall(query_images, gallery_texts, labels),
            _map_and_recall(query_texts, gallery_images, labels),
        )

    rows = {"base": both(images, texts, texts, images)}
    for k in (3, 5, 10, 20, 50):
        rows[f"qe{k}"] = both(
            _neighbour_mean(images, texts, k, True),
            texts,
            _neighbour_mean(texts, images, k, True),
            images,
        )
        rows[f"qe{k}a3"] = both(
            _neighbour_mean(images, texts, k, True, alpha=3),
            texts,
            _neighbour_mean(texts, images, k, True, alpha=3),
            images,
        )
        dba_images = _neighbour_mean(images, images, k, False)
        dba_texts = _neighbour_mean(texts, texts, k, False)
        rows[f"dba{k}"] = both(images, dba_texts, texts, dba_images)
        rows[f"dba+qe{k}"] = both(
            _neighbour_mean(images, dba_texts, k, True),
            dba_texts,
            _neighbour_mean(texts, dba_images, k, True),
            dba_images,
        )
    return rows


def main(dataset, seed, model_dir, test=False):
    """Trains (or reuses) the run and prints the validation (and test) figures."""
    config = preset("features").replace(
        data={"dataset": dataset},
        training={"seed": seed},
        runtime={"model_dir": model_dir, "verbose": 0},
    )
    if not os.path.exists(os.path.join(model_dir, run_files.METRICS_FILE)):
        train(config, overwrite=True, preset_name="features")
    config, encoder = run_files.load_run(model_dir)
    data, _, validation = prepare_data(config)
    splits = (
        {"validation": validation, "test": data.test}
        if test
        else {"validation": validation}
    )
    for split_name, split in splits.items():
        images = _normalized(np.asarray(encoder.predict_arrays(split.images, "image")))
        texts = _normalized(np.asarray(encoder.predict_arrays(split.texts, "text")))
        labels = np.asarray(split.labels).argmax(1)
        for name, ((map_i2t, r_i2t), (map_t2i, r_t2i)) in _rows(
            images, texts, labels
        ).items():
            print(
                f"{split_name} {name:10s} MAP I->T {map_i2t:.3f} T->I {map_t2i:.3f}  "
                f"R@10 I->T {r_i2t:.3f} T->I {r_t2i:.3f}"
            )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], test="--test" in sys.argv[4:])
