"""The files a collection is read from, and what can be wrong with one item.

Each reader returns the items it could read and, as `BadItem`s naming the file
and line, those it could not: a missing image, an empty or non-UTF-8 line.
See `collection` for the formats.
"""

import dataclasses
import pathlib

import numpy as np
import tensorflow as tf

from cmgan_tf.errors import InvalidInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
FEATURE_SUFFIXES = (".npy", ".npz")


@dataclasses.dataclass(frozen=True)
class BadItem:
    """An item that cannot be embedded.

    Attributes:
        where: The file and line (or row) it came from.
        reason: What is wrong with it.
    """

    where: str
    reason: str

    def __str__(self):
        return f"{self.where}: {self.reason}"


def format_bad_items(bad, limit=20):
    """Lists bad items one per line (indented), the first `limit` of them.

    Example:
    >>> print(format_bad_items([BadItem("c.txt, line 2", "empty caption")] * 3, 2))
    c.txt, line 2: empty caption
      c.txt, line 2: empty caption
      ... and 1 more
    """
    lines = [str(item) for item in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"... and {len(bad) - limit} more")
    return "\n  ".join(lines)


def _lines(path):
    """Yields `(line_number, text or None)`; `None` for a non-UTF-8 line."""
    with tf.io.gfile.GFile(str(path), "rb") as handle:
        data = handle.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        try:
            yield number, raw.rstrip(b"\r").decode("utf-8")
        except UnicodeDecodeError:
            yield number, None


def read_feature_file(path, name):
    """`(array, ids, where)` of a `.npy` or `.npz` feature file."""
    try:
        if path.suffix == ".npy":
            # Memory-mapped: a feature file may be larger than memory.
            array, ids = np.load(path, mmap_mode="r", allow_pickle=False), None
        else:
            with np.load(path, allow_pickle=False) as archive:
                if "features" not in archive.files:
                    raise InvalidInputError(
                        f"--{name}={path} holds no `features` array. Found: "
                        f"{sorted(archive.files)}."
                    )
                array = archive["features"]
                ids = archive["ids"] if "ids" in archive.files else None
    except (OSError, ValueError) as error:
        raise InvalidInputError(f"Could not read --{name}={path}: {error}") from error
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise InvalidInputError(
            f"--{name}={path} must hold a numeric (n, dim) array. Received: "
            f"shape {array.shape}, dtype {array.dtype}."
        )
    ids = [str(i) for i in (range(len(array)) if ids is None else ids.tolist())]
    if len(ids) != len(array):
        raise InvalidInputError(
            f"--{name}={path}: `ids` has {len(ids)} entries for {len(array)} rows."
        )
    return array, ids, [f"{path}, row {row}" for row in range(len(array))]


def read_image_source(path):
    """`(ids, where, files, bad)` of an image file, folder or list file."""
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        return [path.name], [str(path)], [str(path.absolute())], []
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise InvalidInputError(
                f"--images={path} holds no {', '.join(IMAGE_SUFFIXES)} files."
            )
        ids = [p.relative_to(path).as_posix() for p in files]
        files = [str(p.absolute()) for p in files]
        return ids, files, files, []
    ids, where, files, bad = [], [], [], []
    for number, text in _lines(path):
        location = f"{path}, line {number}"
        if text is None or not text.strip():
            bad.append(
                BadItem(
                    location, "not a UTF-8 image path" if text is None else "empty line"
                )
            )
            continue
        file = path.parent / text.strip()
        if not file.is_file():
            bad.append(BadItem(location, f"image not found: tried {file}"))
            continue
        ids.append(text.strip())
        where.append(location)
        files.append(str(file.absolute()))
    return ids, where, files, bad


def read_caption_source(path):
    """`(ids, where, captions, bad)` of a caption text or `.tsv` file."""
    tsv = path.suffix.lower() == ".tsv"
    ids, where, captions, bad = [], [], [], []
    for number, text in _lines(path):
        location = f"{path}, line {number}"
        if text is None:
            bad.append(BadItem(location, "not valid UTF-8"))
            continue
        item_id, caption = (
            text.split("\t", 1) if tsv and "\t" in text else (str(number), text)
        )
        if tsv and "\t" not in text:
            bad.append(BadItem(location, "expected `id<TAB>caption`"))
        elif not item_id.strip() or not caption.strip():
            bad.append(
                BadItem(location, "empty id" if caption.strip() else "empty caption")
            )
        else:
            ids.append(item_id.strip())
            where.append(location)
            captions.append(caption.strip())
    return ids, where, captions, bad


def check_path(path, name):
    """Returns `path` as a `pathlib.Path`, raising if it does not exist."""
    path = pathlib.Path(path)
    if not path.exists():
        raise InvalidInputError(f"--{name}={path} does not exist.")
    return path
