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
    # `load_dataset` takes TFDS options for dataset "tfds" and refuses them
    # for the others.
    options = {}
    if data.dataset == "tfds":
        options["tfds_options"] = {
            "tfds_name": data.tfds_name,
            "image_key": data.tfds_image_key,
            "caption_key": data.tfds_caption_key,
            "label_key": data.tfds_label_key,
            "train_split": data.tfds_train_split,
            "test_split": data.tfds_test_split,
        }
    return load_dataset(
        data.dataset, data_dir or data.data_dir, image_size=data.image_size, **options
    )
