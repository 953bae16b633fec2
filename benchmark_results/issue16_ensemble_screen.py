"""Issue 16 screen: what an ensemble over seeds adds to the common representation.

Carves wikipedia_classic's training split into a fit part and a validation
part (the split of seed SPLIT_SEED, as `cmgan-train` makes it), trains
MEMBERS runs of the `features` preset on the fit part only (seeds 100, 101,
...; each carves its own validation from it to choose its epoch), and prints,
after each member, its MAP on the held-out validation part and that of the
ensemble so far: the members' L2-normalised embeddings concatenated, so that
similarities are averaged. The test split is not used.

Usage:
    python benchmark_results/issue16_ensemble_screen.py SPLIT_SEED MEMBERS
"""

import os
import sys
import tempfile

import numpy as np

from cmgan_tf import presets
from cmgan_tf.benchmarks.quality import ranking_scores
from cmgan_tf.data.dataset import CrossModalDataset
from cmgan_tf.data.registry import load_dataset
from cmgan_tf.data.splits import train_validation_split
from cmgan_tf.runs.model_dir import load_run
from cmgan_tf.runs.trainer import train


def _normalized(embeddings):
    return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)


def main(split_seed, members):
    """Trains the members one by one and prints single and ensemble MAP."""
    data = load_dataset("wikipedia_classic")
    fit, validation = train_validation_split(data.train, 0.2, split_seed)
    dataset = CrossModalDataset(
        data.name, fit, validation, multi_label=False, class_names=data.class_names
    )
    config = presets.preset("features")
    embeddings = []
    with tempfile.TemporaryDirectory() as root:
        for member in range(members):
            model_dir = os.path.join(root, f"member_{member}")
            train(
                config.replace(
                    training={"seed": 100 + member},
                    runtime={"model_dir": model_dir, "verbose": 0},
                ),
                dataset=dataset,
            )
            encoder = load_run(model_dir)[1]
            embeddings.append(
                tuple(
                    _normalized(encoder.predict_arrays(inputs, modality))
                    for inputs, modality in (
                        (validation.images, "image"),
                        (validation.texts, "text"),
                    )
                )
            )
            single = ranking_scores(*embeddings[-1], validation.labels)
            ensemble = ranking_scores(
                np.concatenate([images for images, _ in embeddings], axis=1),
                np.concatenate([texts for _, texts in embeddings], axis=1),
                validation.labels,
            )
            print(
                f"split {split_seed}, member {member}: validation MAP "
                f"{single['map_image_to_text']:.3f} / "
                f"{single['map_text_to_image']:.3f}; ensemble of {member + 1}: "
                f"{ensemble['map_image_to_text']:.3f} / "
                f"{ensemble['map_text_to_image']:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
