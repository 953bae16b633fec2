"""Peak memory of training on image files, at two collection sizes.

`measure_training_memory` writes folders of generated JPEG images in the
`image_captions` layout and trains one epoch on each with `cmgan-train`, run
as the command line is, in a child process whose peak resident memory is read
back (`os.wait4`). The training images are streamed from their files, so the
peak should not grow with their number; what does grow is small (paths,
captions and labels, the caption vocabulary). The validation split is kept at
a fixed number of pairs, since it is decoded into memory.
"""

import os
import time

from cmgan_tf.benchmarks.collection_speed import run_with_peak_rss, write_collection


def measure_training_memory(
    directory, sizes, *, image_size=32, batch_size=256, validation_pairs=200
):
    """Trains one epoch on folders of `sizes` JPEG images; peak memory of each.

    The model is small (one 8-filter convolution block, 16 trunk units, the
    `smoke` networks) and ranks by the plain common representation, so that
    the epoch is short and nothing but the input pipeline grows with the
    number of images.

    Args:
        directory: Scratch directory.
        sizes: Numbers of training images, smallest first.
        image_size: Side of the images written and trained on.
        batch_size: Training batch size.
        validation_pairs: Pairs carved out for validation, the same at every
            size.

    Returns:
        List per size of dicts: `images`, `steps` (of the epoch),
        `peak_rss_mb` of the training process and `seconds` it took.
    """
    rows = []
    for size in sizes:
        root = os.path.join(directory, f"image_captions_{size}")
        write_collection(root, size, image_size=image_size, tables=True)
        start = time.perf_counter()
        _, peak = run_with_peak_rss(
            "pipelines.train",
            [
                "--preset=smoke",
                "--dataset=image_captions",
                f"--data_dir={root}",
                f"--image_size={image_size}",
                "--image_filters=8",
                "--image_trunk_units=16",
                "--representation=common",
                f"--batch_size={batch_size}",
                "--epochs=1",
                f"--validation_fraction={validation_pairs / size}",
                f"--model_dir={os.path.join(root, 'run')}",
                "--verbosity=-1",
            ],
            "cmgan-train",
        )
        rows.append(
            {
                "images": size,
                "steps": (size - validation_pairs) // batch_size,
                "peak_rss_mb": peak,
                "seconds": time.perf_counter() - start,
            }
        )
    return rows
