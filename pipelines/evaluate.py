r"""Scores a trained CM-GAN on its dataset's test split.

Prints the MAP table, next to the MAP of random rankings (the chance level),
and writes the scores as JSON to `evaluation.json` in
--model_dir. With --plots (the default) it also writes figures, retrieval
grids and their JSON to `evaluation/`, and the embedding projector's run to
`logs/projector`.

Example:
    cmgan-evaluate --model_dir=/tmp/run1 --queries=3,17,42
"""

from pipelines import _quiet  # noqa: F401  Before anything imports TensorFlow.

# isort: split

import sys

from absl import app, flags

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.retrieval.evaluation import format_map_table
from cmgan_tf.runs.evaluation import evaluate
from pipelines import flags as config_flags

_MODEL_DIR = flags.DEFINE_string(
    "model_dir", None, "Directory written by cmgan-train.", required=True
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Overrides the dataset location recorded in the run's config."
)
_EXCLUDE_QUERY = flags.DEFINE_bool(
    "exclude_query_from_gallery",
    True,
    "In all-modality retrieval, remove the query itself from the gallery; "
    "--noexclude_query_from_gallery is the authors' protocol.",
)

_PLOTS = flags.DEFINE_bool(
    "plots",
    True,
    "Write precision-recall, precision@k, per-class AP and training-history "
    "figures, retrieval grids and their JSON to <model_dir>/evaluation, and "
    "the TensorBoard projector run to <model_dir>/logs/projector.",
)
_QUERIES = flags.DEFINE_list(
    "queries",
    None,
    "Comma-separated test pair ids that the retrieval grid shows, e.g. "
    "3,17,42; by default 6 ids drawn with a fixed seed.",
)


def main(argv):
    """Runs the command; `argv` holds what absl did not parse as flags."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        scores, chance = evaluate(
            _MODEL_DIR.value,
            data_dir=_DATA_DIR.value,
            exclude_query_from_gallery=_EXCLUDE_QUERY.value,
            plots=_PLOTS.value,
            queries=_QUERIES.value,
        )
    except InvalidInputError as error:
        sys.exit(f"cmgan-evaluate: error: {error}")
    print(format_map_table(scores, chance=chance))


def run():
    """Console-script entry point."""
    config_flags.run(main, "cmgan-evaluate")


if __name__ == "__main__":
    run()
