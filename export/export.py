r"""Exports a trained CM-GAN encoder for serving.

`--format=saved_model` adds a version to a TensorFlow Serving model
repository: `<export_dir>/<model_name>/<version>/` and
`<export_dir>/models.config` (see BUILD.md for serving it).

Example:
    cmgan-export --model_dir=/tmp/run1 --export_dir=/tmp/serving --check_parity
"""

import sys

from absl import app, flags

from cmgan_tf import experiment
from cmgan_tf.errors import InvalidInputError

_MODEL_DIR = flags.DEFINE_string(
    "model_dir", None, "Directory written by cmgan-train.", required=True
)
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", None, "Root of the model repository to write.", required=True
)
_FORMAT = flags.DEFINE_enum("format", "saved_model", ["saved_model"], "What to export.")
_MODEL_NAME = flags.DEFINE_string(
    "model_name", "cmgan", "Name the model is served under."
)
_VERSION = flags.DEFINE_integer(
    "version", None, "Version number; default: one more than the highest present."
)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace the version if it exists.")
_GALLERY = flags.DEFINE_enum(
    "gallery",
    "test",
    list(experiment.GALLERY_SPLITS),
    "Split of the run's dataset that the retrieve_with_* signatures rank "
    "(ids are indices in the split); 'none' for no retrieval signatures.",
)
_GALLERY_FILE = flags.DEFINE_string(
    "gallery_file",
    None,
    "A .npz holding image_embeddings and/or text_embeddings (n, dim), and "
    "optionally image_ids / text_ids (n,), to rank instead of a split; "
    "use with --gallery=none.",
)
_TOP_K = flags.DEFINE_integer("top_k", 10, "Items each retrieval returns.")
_SERVING_BASE_PATH = flags.DEFINE_string(
    "serving_base_path",
    None,
    "Where TF Serving sees --export_dir (e.g. /models in its Docker "
    "container); written into models.config. Default: --export_dir's "
    "absolute path.",
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Overrides the dataset location recorded in the run's config."
)
_CHECK_PARITY = flags.DEFINE_bool(
    "check_parity",
    False,
    "Reload the export and compare it with the Keras encoder on the test split.",
)


def main(argv):
    """Runs the command; `argv` holds what absl did not parse as flags."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        result = experiment.export_serving_model(
            _MODEL_DIR.value,
            _EXPORT_DIR.value,
            model_name=_MODEL_NAME.value,
            version=_VERSION.value,
            overwrite=_OVERWRITE.value,
            gallery_split=_GALLERY.value,
            gallery_file=_GALLERY_FILE.value,
            top_k=_TOP_K.value,
            serving_base_path=_SERVING_BASE_PATH.value,
            data_dir=_DATA_DIR.value,
            check_parity=_CHECK_PARITY.value,
        )
    except InvalidInputError as error:
        sys.exit(f"cmgan-export: error: {error}")
    print(f"Exported {result['path']}")
    for name, value in result.get("parity", {}).items():
        print(f"{name}: {value:.3g}")


def run():
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
