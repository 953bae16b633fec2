"""The dataset a configuration names, loaded through the data registry."""

from cmgan_tf.data.registry import load_dataset


def load_configured_dataset(data, data_dir=None):
    """Loads the dataset of a `DataConfig`.

    Args:
        data: A `DataConfig`.
        data_dir: Overrides `data.data_dir` (e.g. `cmgan-evaluate --data_dir`,
            when the files moved since training).

    Returns:
        A `CrossModalDataset`.
    """
    return load_dataset(
        data.dataset,
        data_dir or data.data_dir,
        image_size=data.image_size,
        tfds_options=data.tfds_options(),
    )
