"""Cross-modal datasets: validated pairs, loaders and splits."""

from cmgan_tf.data.dataset import (
    CrossModalDataset,
    ImageCaptionSplit,
    ImageFileSplit,
    PairedSplit,
    labels_from_class_ids,
    labels_from_multi_hot,
)
from cmgan_tf.data.loaders import (
    WIKIPEDIA_CLASS_NAMES,
    load_dscmr_mat,
    load_npz,
    load_wikipedia_classic,
)
from cmgan_tf.data.registry import DATASETS, dataset_names, load_dataset
from cmgan_tf.data.splits import train_validation_split

__all__ = [
    "DATASETS",
    "WIKIPEDIA_CLASS_NAMES",
    "CrossModalDataset",
    "ImageCaptionSplit",
    "ImageFileSplit",
    "PairedSplit",
    "dataset_names",
    "labels_from_class_ids",
    "labels_from_multi_hot",
    "load_dataset",
    "load_dscmr_mat",
    "load_npz",
    "load_wikipedia_classic",
    "train_validation_split",
]
