r"""Exports a trained CM-GAN encoder for serving.

`--format=saved_model` adds a version to a TensorFlow Serving model
repository: `<export_dir>/<model_name>/<version>/` and
`<export_dir>/models.config` (see BUILD.md for serving it).
`--format=tflite` creates `<export_dir>` holding one `.tflite` encoder per
modality and variant, with `manifest.json` (and `vocabulary.txt` for captions).

Examples:
    cmgan-export --model_dir=/tmp/run1 --export_dir=/tmp/serving --check_parity
    cmgan-export --model_dir=/tmp/run1 --format=tflite --export_dir=/tmp/tflite
"""

from pipelines import _quiet  # noqa: F401  Before anything imports TensorFlow.

# isort: split

import sys

from absl import app, flags

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.runs import export as run_export
from cmgan_tf.serving import tflite
from pipelines import flags as config_flags

_MODEL_DIR = flags.DEFINE_string(
    "model_dir", None, "Directory written by cmgan-train.", required=True
)
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", None, "Root of the model repository to write.", required=True
)
_FORMAT = flags.DEFINE_enum(
    "format",
    "saved_model",
    ["saved_model", "tflite"],
    "A SavedModel version for TF Serving, or TFLite encoders.",
)
_TFLITE_VARIANTS = flags.DEFINE_list(
    "tflite_variants",
    None,
    f"TFLite variants to write, of {', '.join(tflite.VARIANTS)}. Default: all, "
    "or float32 and float16 for a model with a kernel feature map (8-bit weights "
    "cannot hold it).",
)
_MODEL_NAME = flags.DEFINE_string(
    "model_name", "cmgan", "Name the model is served under."
)
_VERSION = flags.DEFINE_integer(
    "version",
    None,
    "SavedModel version number; default: one more than the highest present.",
)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace the version if it exists.")
_GALLERY = flags.DEFINE_enum(
    "gallery",
    None,
    list(run_export.GALLERY_SPLITS),
    "Split of the run's dataset that the retrieve_with_* signatures rank "
    "(ids are indices in the split); 'none' for no retrieval signatures. "
    "Default: test, unless --gallery_file or --gallery_dir is given.",
)
_GALLERY_FILE = flags.DEFINE_string(
    "gallery_file",
    None,
    "A .npz holding image_embeddings and/or text_embeddings (n, dim), and "
    "optionally image_ids / text_ids (n,), to rank instead of a split.",
)
_GALLERY_DIR = flags.DEFINE_string(
    "gallery_dir",
    None,
    "A gallery directory written by cmgan-embed with this run: the "
    "retrieve_with_* signatures (and, with --format=tflite, the "
    "retrieve_with_*.tflite models) rank its items and return its string ids.",
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
    "Reload the export and compare it with the Keras encoder on the test split "
    "(for TFLite: embeddings, top-10 rankings and MAP of every variant).",
)


def main(argv):
    """Runs the command; `argv` holds what absl did not parse as flags."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        if _FORMAT.value == "tflite":
            result = run_export.export_tflite_model(
                _MODEL_DIR.value,
                _EXPORT_DIR.value,
                variants=_TFLITE_VARIANTS.value and tuple(_TFLITE_VARIANTS.value),
                overwrite=_OVERWRITE.value,
                data_dir=_DATA_DIR.value,
                check_parity=_CHECK_PARITY.value,
                gallery_dir=_GALLERY_DIR.value,
                top_k=_TOP_K.value,
            )
        else:
            result = run_export.export_serving_model(
                _MODEL_DIR.value,
                _EXPORT_DIR.value,
                model_name=_MODEL_NAME.value,
                version=_VERSION.value,
                overwrite=_OVERWRITE.value,
                gallery_split=_GALLERY.value,
                gallery_file=_GALLERY_FILE.value,
                gallery_dir=_GALLERY_DIR.value,
                top_k=_TOP_K.value,
                serving_base_path=_SERVING_BASE_PATH.value,
                data_dir=_DATA_DIR.value,
                check_parity=_CHECK_PARITY.value,
            )
    except InvalidInputError as error:
        sys.exit(f"cmgan-export: error: {error}")
    print(f"Exported {result['path']}")
    for name, info in result.get("manifest", {}).items():
        print(f"{name}: {info['bytes'] / 1024:.0f} KiB")
    parity = result.get("parity", {})
    if _FORMAT.value == "tflite" and parity:
        print(format_tflite_parity(parity))
    else:
        for name, value in parity.items():
            print(f"{name}: {value:.3g}")


def format_tflite_parity(parity):
    """Returns the TFLite parity report as a Markdown table."""
    lines = [
        "| variant | max abs diff (image / text) | same top-10 | MAP I->T | MAP T->I |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for variant, row in parity.items():
        diff = (
            f"{row['image_max_abs_diff']:.1e} / {row['text_max_abs_diff']:.1e}"
            if "image_max_abs_diff" in row
            else "reference"
        )
        same = f"{row['same_top_k']:.3f}" if "same_top_k" in row else ""
        lines.append(
            f"| {variant} | {diff} | {same} | {row['map_image_to_text']:.4f} "
            f"| {row['map_text_to_image']:.4f} |"
        )
    return "\n".join(lines)


def run():
    """Console-script entry point."""
    config_flags.run(main, "cmgan-export")


if __name__ == "__main__":
    run()
