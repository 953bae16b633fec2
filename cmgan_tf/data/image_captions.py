"""Loads raw image-caption pairs from image files and a caption table.

Layout of `data_dir`:

```
data_dir/
  train.tsv      one pair per line: image_path <TAB> labels <TAB> caption
  test.tsv
  images/...     any layout; image_path is relative to data_dir
```

`labels` are class names separated by commas (several make the dataset
multi-label); the classes are those named in `train.tsv`, sorted. Images may be
PNG, JPEG, GIF or BMP, colour or grayscale; they are decoded to RGB and resized
to `image_size` x `image_size`. The tables must be UTF-8. Every problem is
reported as `InvalidInputError` naming the file and line.
"""

import pathlib

import numpy as np
import tensorflow as tf

from cmgan_tf.data.dataset import (
    CrossModalDataset,
    ImageCaptionSplit,
    check_image_size,
)
from cmgan_tf.errors import InvalidInputError

TABLES = {"train": "train.tsv", "test": "test.tsv"}


def _read_table(path):
    """Returns `[(line_number, image_path, label_names, caption)]` of a table."""
    if not path.is_file():
        raise InvalidInputError(f"File not found: tried {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{path}, line {line}: not valid UTF-8 ({error.reason}). Save the "
            "table as UTF-8."
        ) from error
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise InvalidInputError(
                f"{path}, line {number}: expected 3 tab-separated fields "
                f"(image_path, labels, caption); found {len(fields)}."
            )
        image_path, labels, caption = fields
        names = [n.strip() for n in labels.split(",") if n.strip()]
        if not image_path.strip() or not names or not caption.strip():
            empty = [
                name
                for name, value in (
                    ("image_path", image_path),
                    ("labels", labels),
                    ("caption", caption),
                )
                if not value.strip()
            ]
            raise InvalidInputError(
                f"{path}, line {number}: empty {', '.join(empty) or 'labels'}."
            )
        rows.append((number, image_path.strip(), names, caption.strip()))
    if not rows:
        raise InvalidInputError(f"{path} holds no pairs.")
    return rows


def _read_image(path, image_size, where):
    """Returns the image at `path` as `(image_size, image_size, 3)` uint8."""
    if not path.is_file():
        raise InvalidInputError(f"{where}: image not found: tried {path}")
    try:
        image = tf.io.decode_image(
            tf.io.read_file(str(path)), channels=3, expand_animations=False
        )
    except tf.errors.InvalidArgumentError as error:
        raise InvalidInputError(
            f"{where}: could not decode {path} as PNG, JPEG, GIF or BMP; the "
            "file is damaged or not an image."
        ) from error
    resized = tf.image.resize(image, (image_size, image_size), antialias=True)
    return np.clip(np.rint(resized.numpy()), 0, 255).astype(np.uint8)


def load_image_captions(data_dir, *, image_size=64):
    """Loads the image-caption layout described in the module docstring.

    Args:
        data_dir: Directory holding `train.tsv`, `test.tsv` and the images.
        image_size: Side the images are resized to. Defaults to 64.

    Returns:
        A `CrossModalDataset` of `ImageCaptionSplit`s named after the
        directory.

    Raises:
        InvalidInputError: for a missing directory, table or image, a table
            that is not UTF-8 or has malformed or empty fields, a test label
            that train does not name, or an image that cannot be decoded.
    """
    directory = pathlib.Path(data_dir)
    if not directory.is_dir():
        raise InvalidInputError(f"Data directory not found: tried {directory}")
    check_image_size(image_size)
    tables = {split: _read_table(directory / name) for split, name in TABLES.items()}
    class_names = tuple(
        sorted({n for _, _, names, _ in tables["train"] for n in names})
    )
    index = {name: i for i, name in enumerate(class_names)}
    splits = {}
    for split, rows in tables.items():
        images, texts = [], []
        labels = np.zeros((len(rows), len(class_names)), np.float32)
        for row, (number, image_path, names, caption) in enumerate(rows):
            where = f"{directory / TABLES[split]}, line {number}"
            unknown = [n for n in names if n not in index]
            if unknown:
                raise InvalidInputError(
                    f"{where}: labels {unknown} are not among the classes of "
                    f"train.tsv ({', '.join(class_names)})."
                )
            labels[row, [index[n] for n in names]] = 1.0
            images.append(_read_image(directory / image_path, image_size, where))
            texts.append(caption)
        splits[split] = ImageCaptionSplit(np.stack(images), texts, labels)
    multi_label = any(
        len(names) > 1 for rows in tables.values() for *_, names, _ in rows
    )
    return CrossModalDataset(
        directory.name or "image_captions",
        splits["train"],
        splits["test"],
        multi_label=multi_label,
        class_names=class_names,
    )
