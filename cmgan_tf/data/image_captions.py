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

The training split is an `ImageFileSplit`: its images are only checked to
exist here, and are decoded as training streams them (a damaged one is found
then; see `--on_bad_item`), so a collection larger than memory trains. The
test split is decoded into memory now, as evaluation reads it as arrays;
keep it to a size that fits (COCO's 5000 test images take 60 MB at 64 px).
"""

import pathlib

import numpy as np

from cmgan_tf.data.dataset import (
    CrossModalDataset,
    ImageCaptionSplit,
    ImageFileSplit,
    check_image_size,
)
from cmgan_tf.data.image_stream import read_image_file
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


def load_image_captions(data_dir, *, image_size=64):
    """Loads the image-caption layout described in the module docstring.

    Args:
        data_dir: Directory holding `train.tsv`, `test.tsv` and the images.
        image_size: Side the images are resized to. Defaults to 64.

    Returns:
        A `CrossModalDataset` named after the directory: an `ImageFileSplit`
        to train on (streamed from the files) and an `ImageCaptionSplit` to
        test on (in memory).

    Raises:
        InvalidInputError: for a missing directory, table or image, a table
            that is not UTF-8 or has malformed or empty fields, a test label
            that train does not name, or a test image that cannot be decoded
            (a training image that cannot be decoded is found in training).
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
        # Paths of training images, decoded pixels of test images.
        items, texts = [], []
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
            path = directory / image_path
            if split == "train":
                if not path.is_file():
                    raise InvalidInputError(f"{where}: image not found: tried {path}")
                items.append(str(path))
            else:
                items.append(read_image_file(path, (image_size, image_size), where))
            texts.append(caption)
        splits[split] = (
            ImageFileSplit(items, texts, labels, image_size)
            if split == "train"
            else ImageCaptionSplit(np.stack(items), texts, labels)
        )
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
