"""Issue 16 screen: ranking the common representation with class probabilities.

Trains the `features` preset (with optional overrides) once per seed, each
run's epoch chosen on its validation split by the representation it is
configured to rank, then scores the kept model's validation split under every
representation and weight below; the test split is printed beside, marked as
not used to choose:

- `standardized_common_and_classes` at temperature `T` and class weight `w`
  (`--temperature`, `--class_weight`);
- `standardized_common` and `class_probabilities` alone (`w=common`,
  `w=probs`).

Usage (from the repository root):
    python benchmark_results/issue16_class_probability_screen.py \
        DATA SEEDS [OVERRIDES] [TAG]

`DATA` is `wikipedia_classic` or the path of an `npz` file (the synthetic sets
of `quality_issue16.md`); `SEEDS` e.g. `0,1,2`; `OVERRIDES` a JSON dict of
`ExperimentConfig.replace` sections, e.g.
`'{"loss": {"semantic_weight": 0.0, "class_probe_weight": 1.0}}'`. Runs are
kept in `/tmp/issue16_class_probability_screen/TAG_SEED` and reused.
"""

import json
import os
import sys

import numpy as np

from cmgan_tf import presets
from cmgan_tf.benchmarks.quality import encoder_scores
from cmgan_tf.data.registry import load_dataset
from cmgan_tf.data.splits import train_validation_split
from cmgan_tf.models.encoder import CrossModalEncoder
from cmgan_tf.runs.model_dir import load_run
from cmgan_tf.runs.trainer import train

ROOT = "/tmp/issue16_class_probability_screen"
TEMPERATURES = (1.0, 0.5)
WEIGHTS = (0.5, 1.0, 2.0, 4.0, "common", "probs")


def _encoder(generator, split, temperature, weight):
    if weight == "common":
        kwargs = {"representation": "standardized_common"}
    elif weight == "probs":
        kwargs = {"representation": "class_probabilities"}
    else:
        kwargs = {
            "representation": "standardized_common_and_classes",
            "class_weight": weight,
        }
    return CrossModalEncoder.from_generator(
        generator, split.images, split.texts, temperature=temperature, **kwargs
    )


def main(data_name, seeds, overrides, tag):
    """Trains one run per seed and prints the mean scores of each ranking."""
    if data_name == "wikipedia_classic":
        data = load_dataset(data_name)
    else:
        data = load_dataset("npz", data_name)
    scores = {}
    for seed in seeds:
        model_dir = os.path.join(ROOT, f"{tag}_{seed}")
        config = presets.preset("features").replace(**overrides)
        config = config.replace(
            training={"seed": seed}, runtime={"model_dir": model_dir, "verbose": 0}
        )
        if not os.path.exists(os.path.join(model_dir, "encoder.keras")):
            metrics = train(config, dataset=data, overwrite=True)
            print(f"seed {seed}: kept epoch {metrics['best_epoch']}", flush=True)
        config, encoder = load_run(model_dir)
        # The same split `cmgan-train` validated on.
        fit, validation = train_validation_split(
            data.train, config.data.validation_fraction, seed
        )
        for temperature in TEMPERATURES:
            for weight in WEIGHTS:
                ranking = _encoder(encoder.generator, fit, temperature, weight)
                for name, split in (("val", validation), ("test", data.test)):
                    s = encoder_scores(ranking, split)
                    scores.setdefault((temperature, str(weight), name), []).append(
                        [
                            s["map_image_to_text"],
                            s["map_text_to_image"],
                            s["recall@10_image_to_text"],
                            s["recall@10_text_to_image"],
                        ]
                    )
    for (temperature, weight, name), values in sorted(scores.items()):
        m = np.mean(values, axis=0)
        note = "" if name == "val" else "  (not used to choose)"
        print(
            f"{tag} T={temperature} w={weight:6s} {name:4s} MAP {m[0]:.3f} / "
            f"{m[1]:.3f}  R@10 {m[2]:.3f} / {m[3]:.3f}{note}"
        )


if __name__ == "__main__":
    main(
        sys.argv[1],
        [int(s) for s in sys.argv[2].split(",")],
        json.loads(sys.argv[3]) if len(sys.argv) > 3 else {},
        sys.argv[4] if len(sys.argv) > 4 else "preset",
    )
