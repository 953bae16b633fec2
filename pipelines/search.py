r"""Searches a gallery directory written by cmgan-embed.

Prints, per query, one line per hit: rank, score, id and the item's caption
or image path.

Examples:
    cmgan-search --model_dir=/tmp/shapes --gallery=/tmp/gallery \
        --text="a large red circle next to a small blue square"
    cmgan-search --model_dir=/tmp/shapes --gallery=/tmp/gallery --image=query.png
    cmgan-search --model_dir=/tmp/shapes --gallery=/tmp/gallery \
        --queries=questions.txt --top_k=5 --backend=faiss
"""

from pipelines import _quiet  # noqa: F401  Before anything imports TensorFlow.

# isort: split

import sys

from absl import app, flags

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.retrieval import ann
from cmgan_tf.runs import search
from pipelines import flags as config_flags

_MODEL_DIR = flags.DEFINE_string(
    "model_dir", None, "The run the gallery was embedded with.", required=True
)
_GALLERY = flags.DEFINE_string(
    "gallery", None, "Gallery directory written by cmgan-embed.", required=True
)
_TEXT = flags.DEFINE_string("text", None, "A caption to search with.")
_IMAGE = flags.DEFINE_string(
    "image", None, "An image file (or a folder or list file of them) to search with."
)
_QUERIES = flags.DEFINE_string(
    "queries", None, "A file of captions to search with, one per line (or a .tsv)."
)
_TOP_K = flags.DEFINE_integer("top_k", 10, "Hits per query.")
_BACKEND = flags.DEFINE_enum(
    "backend",
    "exact",
    list(search.BACKENDS),
    "'exact' ranks every item; 'faiss' uses the index of cmgan-embed --ann.",
)
_NPROBE = flags.DEFINE_integer(
    "nprobe",
    ann.DEFAULT_NPROBE,
    "With --backend=faiss: index lists scanned per query (more: slower, "
    "closer to exact).",
)


def main(argv):
    """Runs the command; `argv` holds what absl did not parse as flags."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        queries = search.read_queries(
            text=_TEXT.value, image=_IMAGE.value, queries=_QUERIES.value
        )
        hits = search.search_gallery(
            _MODEL_DIR.value,
            _GALLERY.value,
            queries,
            top_k=_TOP_K.value,
            backend=_BACKEND.value,
            nprobe=_NPROBE.value,
        )
    except InvalidInputError as error:
        sys.exit(f"cmgan-search: error: {error}")
    print(format_hits(queries, hits))


def format_hits(queries, hits):
    """One line per hit under a header line per query."""
    lines = []
    for row, query_hits in enumerate(hits):
        if len(hits) > 1:
            lines.append(f"# {queries.where[row]}: {queries.ids[row]}")
        for rank, hit in enumerate(query_hits, start=1):
            described = hit.get("caption") or hit.get("path") or ""
            lines.append(f"{rank}\t{hit['score']:.4f}\t{hit['id']}\t{described}")
    return "\n".join(lines)


def run():
    """Console-script entry point."""
    config_flags.run(main, "cmgan-search")


if __name__ == "__main__":
    run()
