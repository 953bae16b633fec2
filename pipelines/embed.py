r"""Embeds a collection of images and/or captions into a gallery directory.

The gallery (embeddings, string ids, paths and captions, and a manifest naming
the run) is what `cmgan-search` queries and `cmgan-export --gallery_dir`
serves. Running it again on the same --output adds items.

Examples:
    cmgan-embed --model_dir=/tmp/shapes --images=photos/ --output=/tmp/gallery
    cmgan-embed --model_dir=/tmp/shapes --images=photos/ \
        --captions=captions.tsv --output=/tmp/gallery --on_bad_item=skip
    cmgan-embed --model_dir=/tmp/run1 --split=test --output=/tmp/test_gallery
"""

from pipelines import _quiet  # noqa: F401  Before anything imports TensorFlow.

# isort: split

import sys

from absl import app, flags

from cmgan_tf.data.image_stream import BAD_ITEM_POLICIES
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.runs import collection
from pipelines import flags as config_flags

_MODEL_DIR = flags.DEFINE_string(
    "model_dir", None, "Directory written by cmgan-train.", required=True
)
_OUTPUT = flags.DEFINE_string(
    "output", None, "Gallery directory to create or add to.", required=True
)
_IMAGES = flags.DEFINE_string(
    "images",
    None,
    "A folder of images (searched recursively), a list file of image paths "
    "(one per line, relative to the file), or a .npy/.npz of image features.",
)
_CAPTIONS = flags.DEFINE_string(
    "captions",
    None,
    "A text file of captions (one per line), a .tsv of `id<TAB>caption` (ids "
    "pair them with --images' relative paths), or a .npy/.npz of text features.",
)
_SPLIT = flags.DEFINE_enum(
    "split",
    None,
    list(collection.SPLITS),
    "Embed this split of a dataset (--dataset, default the run's) instead of "
    "--images/--captions.",
)
_DATASET = flags.DEFINE_string(
    "dataset",
    None,
    "With --split: a dataset the project loads (as cmgan-train --dataset); "
    "default: the run's own.",
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir",
    None,
    "With --split: the dataset's location; default: the one the run recorded.",
)
_ON_BAD_ITEM = flags.DEFINE_enum(
    "on_bad_item",
    "fail",
    list(BAD_ITEM_POLICIES),
    "An item that cannot be embedded (missing or damaged image, empty or "
    "non-UTF-8 caption, duplicate id): 'fail' writes nothing and lists them, "
    "'skip' leaves them out and lists them.",
)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Items per encoder call.")
_ANN = flags.DEFINE_bool(
    "ann",
    False,
    "Also build a faiss index for `cmgan-search --backend=faiss` (needs "
    'pip install "cmgan_tf[ann]").',
)


def main(argv):
    """Runs the command; `argv` holds what absl did not parse as flags."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        result = collection.embed_collection(
            _MODEL_DIR.value,
            _OUTPUT.value,
            images=_IMAGES.value,
            captions=_CAPTIONS.value,
            split=_SPLIT.value,
            dataset=_DATASET.value,
            data_dir=_DATA_DIR.value,
            on_bad_item=_ON_BAD_ITEM.value,
            batch_size=_BATCH_SIZE.value,
            build_ann=_ANN.value,
        )
    except InvalidInputError as error:
        sys.exit(f"cmgan-embed: error: {error}")
    for modality, rate in result["items_per_s"].items():
        print(f"{modality}: {rate:.1f} items/s")
    if result["skipped"]:
        print(f"Skipped {len(result['skipped'])} items:")
        for item in result["skipped"]:
            print(f"  {item}")
    for modality, recall in result.get("ann_recall_at_10", {}).items():
        print(f"faiss index of {modality}: recall@10 against exact search {recall:.3f}")
    print(f"Wrote {result['path']}: {result['count']} items ({result['added']} added).")


def run():
    """Console-script entry point."""
    config_flags.run(main, "cmgan-embed")


if __name__ == "__main__":
    run()
