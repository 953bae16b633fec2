"""Issue 16 screen: what ensembles over seeds add, member by member.

For each split seed, carves the training split into fit and validation parts
as `cmgan-train` does, trains MEMBERS runs of the `features` preset with
`--ensemble_size=1` on the fit part, validated on the validation part (member
`k` with `member_seed(split_seed, k)`, as `--ensemble_size` trains them), and
prints after each member its validation and test MAP and those of the
ensemble of the members so far (`EnsembleEncoder`). Choose on validation; the
test figures are printed beside, not used to choose. Runs are kept in
`/tmp/issue16_ensemble_screen/` and reused.

Usage (from the repository root):
    python benchmark_results/issue16_ensemble_screen.py DATA SPLIT_SEEDS MEMBERS

`DATA` is `wikipedia_classic` or the path of an `npz` file (the synthetic sets
of `quality_issue16.md`); `SPLIT_SEEDS` e.g. `0,1,2`. The stop-25 version
(members carving their own validation out of the fit part) is at commit
af6d21c.
"""

import dataclasses
import json
import os
import sys

from cmgan_tf import presets
from cmgan_tf.benchmarks.quality import encoder_scores
from cmgan_tf.data.registry import load_dataset
from cmgan_tf.data.splits import train_validation_split
from cmgan_tf.models.ensemble import EnsembleEncoder
from cmgan_tf.runs.model_dir import is_finished, load_run
from cmgan_tf.runs.trainer import member_seed, train

ROOT = "/tmp/issue16_ensemble_screen"


def _maps(encoder, split):
    scores = encoder_scores(encoder, split)
    return [
        round(scores["map_image_to_text"], 4),
        round(scores["map_text_to_image"], 4),
    ]


def main(data_name, split_seeds, members):
    """Trains the members split by split; prints one JSON line per member."""
    if data_name == "wikipedia_classic":
        data = load_dataset(data_name)
    else:
        data = load_dataset("npz", data_name)
    config = presets.preset("features").replace(training={"ensemble_size": 1})
    tag = os.path.basename(data_name)
    for split_seed in split_seeds:
        fit, validation = train_validation_split(
            data.train, config.data.validation_fraction, split_seed
        )
        dataset = dataclasses.replace(data, train=fit, validation=validation)
        encoders = []
        for k in range(members):
            model_dir = os.path.join(ROOT, f"{tag}_split{split_seed}_member{k}")
            if not is_finished(model_dir):
                train(
                    config.replace(
                        training={"seed": member_seed(split_seed, k)},
                        runtime={"model_dir": model_dir, "verbose": 0},
                    ),
                    dataset=dataset,
                    overwrite=True,
                )
            encoders.append(load_run(model_dir)[1])
            ensemble = encoders[0] if k == 0 else EnsembleEncoder(encoders)
            record = {"split": split_seed, "members": k + 1}
            for name, split in (("validation", validation), ("test", data.test)):
                record[f"{name}_member"] = _maps(encoders[-1], split)
                record[f"{name}_ensemble"] = _maps(ensemble, split)
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main(
        sys.argv[1],
        [int(s) for s in sys.argv[2].split(",")],
        int(sys.argv[3]),
    )
