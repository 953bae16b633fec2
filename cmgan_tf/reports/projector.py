"""The test split's common representation, for TensorBoard's embedding projector.

Writes one TensorBoard run, `projector/`, beside the training runs in a model
directory's `logs/`, so `tensorboard --logdir=<model_dir>/logs` shows the
embeddings of both modalities next to the loss curves: a checkpoint of the
`(2 * num_pairs, dim)` embeddings (images first, then texts), `metadata.tsv`
(modality, pair id, class names and, for raw splits, the caption) and, for
splits of pixels, a sprite of thumbnails. All of it is written with the
projector plugin's own config proto and `visualize_embeddings`.
"""

import math

import numpy as np
import tensorflow as tf
from tensorboard.plugins import projector

from cmgan_tf import file_io
from cmgan_tf.data.dataset import ImageCaptionSplit

RUN_NAME = "projector"
METADATA_FILE = "metadata.tsv"
SPRITE_FILE = "sprite.png"
# TensorBoard refuses sprites larger than 8192 x 8192 pixels.
_MAX_SPRITE_SIDE = 8192
_TEXT_TILE_GREY = 200


def write_projector(log_dir, image_embeddings, text_embeddings, split, class_names):
    """Writes the projector run `<log_dir>/projector`, replacing an older one.

    Args:
        log_dir: TensorBoard log directory of the run (`<model_dir>/logs`).
        image_embeddings: float array `(num_pairs, dim)`.
        text_embeddings: float array `(num_pairs, dim)`.
        split: The embedded `PairedSplit` or `ImageCaptionSplit`.
        class_names: One name per label column.

    Returns:
        The run directory's path, a string.
    """
    embeddings = np.concatenate([image_embeddings, text_embeddings]).astype(np.float32)
    target = file_io.join(log_dir, RUN_NAME)
    file_io.make_directory(log_dir, "TensorBoard log directory")
    with file_io.staged_directory(target, overwrite=True) as staging:
        # An event file makes the directory a run TensorBoard lists; the
        # projector looks for its config only in runs.
        writer = tf.summary.create_file_writer(staging)
        with writer.as_default():
            tf.summary.text(
                "projector",
                "Test-split embeddings of both modalities: images first, then texts.",
                step=0,
            )
        writer.close()
        checkpoint = tf.train.Checkpoint(embedding=tf.Variable(embeddings))
        # `save` records the checkpoint in a relative `checkpoint` file, which
        # the projector finds after the staged directory is renamed.
        checkpoint.save(file_io.join(staging, "embedding"))
        config = projector.ProjectorConfig()
        embedding = config.embeddings.add()
        embedding.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
        embedding.metadata_path = METADATA_FILE
        file_io.write_text_atomically(
            file_io.join(staging, METADATA_FILE), metadata_tsv(split, class_names)
        )
        if isinstance(split, ImageCaptionSplit):
            sprite, tile = sprite_image(split.images)
            file_io.write_bytes_atomically(
                file_io.join(staging, SPRITE_FILE), tf.io.encode_png(sprite).numpy()
            )
            embedding.sprite.image_path = SPRITE_FILE
            embedding.sprite.single_image_dim.extend([tile, tile])
        projector.visualize_embeddings(staging, config)
    return target


def metadata_tsv(split, class_names):
    """The projector's metadata: a header, then one line per image, per text.

    Args:
        split: A `PairedSplit` or `ImageCaptionSplit`.
        class_names: One name per label column.

    Returns:
        TSV text with columns `modality`, `pair`, `class` (a multi-label
        pair's class names joined by `|`) and, for an `ImageCaptionSplit`,
        `caption` (an image carries its pair's caption).
    """
    raw = isinstance(split, ImageCaptionSplit)
    header = ["modality", "pair", "class"] + (["caption"] if raw else [])
    lines = ["\t".join(header)]
    for modality in ("image", "text"):
        for pair, labels in enumerate(split.labels):
            fields = [
                modality,
                str(pair),
                "|".join(class_names[i] for i in np.flatnonzero(labels)),
            ]
            if raw:
                fields.append(str(split.texts[pair]))
            # A tab or newline inside a field would shift the columns.
            lines.append("\t".join(" ".join(field.split()) for field in fields))
    return "\n".join(lines) + "\n"


def sprite_image(images):
    """Tiles thumbnails of the images, then one grey tile per text, row-major.

    Args:
        images: uint8 array `(num_pairs, height, width, 3)`.

    Returns:
        `(sprite, tile)`: uint8 array `(side, side, 3)` with `side` at most
        8192, and the side in pixels of one square tile.
    """
    num_points = 2 * len(images)
    per_row = math.ceil(math.sqrt(num_points))
    tile = max(1, min(max(images.shape[1:3]), _MAX_SPRITE_SIDE // per_row))
    thumbnails = tf.image.resize(images, (tile, tile), antialias=True)
    thumbnails = tf.cast(tf.clip_by_value(tf.round(thumbnails), 0, 255), tf.uint8)
    tiles = np.full((per_row * per_row, tile, tile, 3), _TEXT_TILE_GREY, np.uint8)
    tiles[: len(images)] = thumbnails.numpy()
    rows = tiles.reshape(per_row, per_row, tile, tile, 3).transpose(0, 2, 1, 3, 4)
    return rows.reshape(per_row * tile, per_row * tile, 3), tile
