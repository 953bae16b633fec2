"""The gallery directory: a collection's embeddings, ids and metadata on disk.

`cmgan-embed` writes it, `cmgan-search` and `cmgan-export --gallery_dir` read
it. A gallery directory `G` holds:

- `manifest.json`: the format, the run the embeddings came from (its model
  directory and the fingerprint of its `config.json`), the embedding size,
  the modalities, the item count and one entry per `cmgan-embed` call;
- `image_embeddings.npy` and/or `text_embeddings.npy`: `(count, dim)`
  float32 unit-norm rows, row `i` being item `i`; plain `.npy`, so that they
  can be memory-mapped (`np.load(..., mmap_mode="r")`);
- `items.jsonl`: one JSON object per item, in row order: its string `id`,
  and its image `path` and/or `caption` when it has them;
- `{modality}_ivf.faiss`: with `--ann`, the approximate index of a modality,
  and its recall@10 against exact search in the manifest's `ann`.

The directory is only ever replaced whole (see `staged_directory`): adding
items writes a new directory beside it and renames it into place.
"""

import hashlib
import json
import os
import pathlib

import numpy as np

from cmgan_tf import file_io
from cmgan_tf.errors import InvalidInputError

FORMAT = "cmgan_tf gallery"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
ITEMS_FILE = "items.jsonl"
EMBEDDINGS_FILES = {"image": "image_embeddings.npy", "text": "text_embeddings.npy"}
ANN_FILE = "{modality}_ivf.faiss"
# Rows copied at a time, so that copying a gallery takes bounded memory.
_CHUNK_ROWS = 65536


def config_fingerprint(config_json):
    """The fingerprint naming a run: a hash of its `config.json` text.

    Args:
        config_json: The run's configuration as JSON text
            (`ExperimentConfig.to_json()`, which is what `config.json` holds).

    Returns:
        The first 16 hex digits of the text's SHA-256.

    Example:
    >>> config_fingerprint('{"training": {"seed": 0}}')
    '5e7dabcf39a5580c'
    """
    return hashlib.sha256(config_json.encode("utf-8")).hexdigest()[:16]


class GalleryDirectory:
    """Reads a gallery directory.

    Args:
        path: The directory written by `cmgan-embed`.

    Raises:
        InvalidInputError: If `path` is not a gallery directory of this
            format version.
    """

    def __init__(self, path):
        self.path = pathlib.Path(path)
        manifest = self.path / MANIFEST_FILE
        if not manifest.is_file():
            raise InvalidInputError(
                f"--gallery={path} is not a gallery directory: it has no "
                f"{MANIFEST_FILE}. Write one with cmgan-embed."
            )
        try:
            self.manifest = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InvalidInputError(f"Could not read {manifest}: {error}") from error
        if (self.manifest.get("format"), self.manifest.get("version")) != (
            FORMAT,
            FORMAT_VERSION,
        ):
            raise InvalidInputError(
                f"{manifest} is not a {FORMAT} version {FORMAT_VERSION} manifest."
            )
        self._items = None

    @property
    def modalities(self):
        """Modalities with embeddings, of `("image", "text")`."""
        return tuple(self.manifest["modalities"])

    @property
    def count(self):
        """Number of items."""
        return int(self.manifest["count"])

    @property
    def dim(self):
        """Size of the embeddings."""
        return int(self.manifest["dim"])

    @property
    def fingerprint(self):
        """Fingerprint of the run the embeddings came from."""
        return self.manifest["run"]["fingerprint"]

    def embeddings(self, modality):
        """`(count, dim)` float32 embeddings, memory-mapped read-only."""
        if modality not in self.modalities:
            raise InvalidInputError(
                f"The gallery {self.path} has no {modality} embeddings; it has "
                f"{', '.join(self.modalities)}."
            )
        return np.load(self.path / EMBEDDINGS_FILES[modality], mmap_mode="r")

    @property
    def items(self):
        """List of `count` dicts: `id`, and `path` and/or `caption`."""
        if self._items is None:
            with open(self.path / ITEMS_FILE, encoding="utf-8") as handle:
                self._items = [json.loads(line) for line in handle]
        return self._items

    @property
    def ids(self):
        """List of the `count` string ids, in row order."""
        return [item["id"] for item in self.items]

    def check_run(self, fingerprint, model_dir):
        """Refuses a run other than the one the gallery was embedded with.

        Embeddings of two models live in different spaces: mixing them, or
        querying one with the other, returns meaningless rankings.

        Args:
            fingerprint: `config_fingerprint` of the run at hand.
            model_dir: Its directory, for the message.

        Raises:
            InvalidInputError: naming both runs.
        """
        if fingerprint != self.fingerprint:
            run = self.manifest["run"]
            raise InvalidInputError(
                f"The gallery {self.path} was embedded with the run "
                f"{run['model_dir']} (fingerprint {run['fingerprint']}), not with "
                f"--model_dir={model_dir} (fingerprint {fingerprint}). Use that "
                "run, or embed the collection again into a new gallery."
            )


def write_gallery(directory, *, run, dim, previous, new_items, new_embeddings, sources):
    """Writes a gallery directory's files: `previous`'s items, then new ones.

    Embeddings are copied a chunk of rows at a time, so memory stays bounded
    however large the gallery is.

    Args:
        directory: Empty directory to fill (a staging directory).
        run: Dict naming the run: `model_dir`, `fingerprint`.
        dim: Size of the embeddings.
        previous: The `GalleryDirectory` added to, or `None`.
        new_items: List of the new items' dicts (`id`, `path`, `caption`).
        new_embeddings: Dict from modality to a `(len(new_items), dim)` array
            (a memory map is fine).
        sources: The manifest's list of `cmgan-embed` calls, this one last.

    Returns:
        The manifest written.
    """
    directory = pathlib.Path(directory)
    modalities = tuple(m for m in EMBEDDINGS_FILES if m in new_embeddings)
    old_count = 0 if previous is None else previous.count
    count = old_count + len(new_items)
    for modality in modalities:
        output = np.lib.format.open_memmap(
            directory / EMBEDDINGS_FILES[modality],
            mode="w+",
            dtype=np.float32,
            shape=(count, dim),
        )
        parts = [new_embeddings[modality]]
        if previous is not None:
            parts.insert(0, previous.embeddings(modality))
        offset = 0
        for part in parts:
            for start in range(0, len(part), _CHUNK_ROWS):
                chunk = np.asarray(part[start : start + _CHUNK_ROWS])
                output[offset + start : offset + start + len(chunk)] = chunk
            offset += len(part)
        output.flush()
        del output
    with open(directory / ITEMS_FILE, "w", encoding="utf-8") as handle:
        if previous is not None:
            with open(previous.path / ITEMS_FILE, encoding="utf-8") as old:
                for line in old:
                    handle.write(line)
        for item in new_items:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "run": run,
        "dim": int(dim),
        "modalities": list(modalities),
        "count": count,
        "sources": sources,
    }
    write_manifest(directory, manifest)
    return manifest


def write_manifest(directory, manifest):
    """Writes a gallery's `manifest.json` atomically."""
    file_io.write_json_atomically(os.path.join(directory, MANIFEST_FILE), manifest)
