"""Retrieval quality: CM-GAN over seeds, its ablations and two classic baselines.

The baselines are those that the paper's tables start from, computed on the
same split in the same run:

- CCA (Hotelling 1936; Rasiwasia et al. 2010 on these features): linear maps
  of both modalities into maximally correlated directions;
- semantic matching (SM, Rasiwasia et al. 2010): each modality is mapped to
  its class posteriors by logistic regression, and retrieval compares them.

scikit-learn provides both estimators (`pip install cmgan_tf[benchmark]`).
"""

import os
import statistics
import tempfile

import numpy as np

from cmgan_tf.models.encoder import STANDARDIZED, CrossModalEncoder
from cmgan_tf.models.ensemble import EnsembleEncoder
from cmgan_tf.models.trunks import transform_features
from cmgan_tf.retrieval.evaluation import retrieval_report
from cmgan_tf.runs.model_dir import load_run
from cmgan_tf.runs.trainer import train

DIRECTIONS = ("image_to_text", "text_to_image")

# Each ablation changes one part of the `features` preset: a term or the text
# kernel map taken away, the classifier kept from shaping the common space
# (trained on it with its gradient stopped), or a part of the paper's method
# (its two adversarial games, unshared common layers) put back.
ABLATIONS = (
    {"loss": {"pair_contrastive_weight": 0.0}},
    {"loss": {"semantic_weight": 0.0, "class_probe_weight": 1.0}},
    {"data": {"text_kernel_landmarks": 0}},
    {"loss": {"inter_adversarial_weight": 1.0}},
    # The intra-modality game judges reconstructions: it needs decoders.
    {"loss": {"intra_adversarial_weight": 1.0}, "model": {"decoder_units": (256,)}},
    {"model": {"share_common_layers": False}},
)

# The representations a run is also scored by, besides the one it ranks.
_PARTS = {
    "class_probabilities": ("standardized_common",),
    "standardized_common_and_classes": ("standardized_common", "class_probabilities"),
}

# Instance relevance: recall of the true partner at these ranks.
RECALL_K_VALUES = (1, 5, 10)

# The dtype policies compared with float32 (`--mixed_precision`): the aim is
# test MAP within 0.01 of it.
PRECISION_POLICIES = ("mixed_bfloat16", "mixed_float16")


def _prepared(split, data_config, statistics_of=None):
    """Transforms and standardises features with the training statistics."""
    prepared = []
    for modality, transform in (
        ("images", data_config.image_transform),
        ("texts", data_config.text_transform),
    ):
        features = np.asarray(
            transform_features(getattr(split, modality), transform), np.float64
        )
        reference = np.asarray(
            transform_features(getattr(statistics_of or split, modality), transform),
            np.float64,
        )
        prepared.append(
            (features - reference.mean(0)) / np.maximum(reference.std(0), 1e-6)
        )
    return prepared


def cca_scores(train, test, data_config, components=None):
    """Test scores of CCA fitted on the training pairs.

    Args:
        train: Training `PairedSplit`.
        test: Test `PairedSplit`.
        data_config: The `DataConfig` whose feature transforms apply.
        components: CCA dimensions; default: the smaller feature size.

    Returns:
        Dict of `ranking_scores`.
    """
    from sklearn.cross_decomposition import CCA

    train_images, train_texts = _prepared(train, data_config)
    test_images, test_texts = _prepared(test, data_config, statistics_of=train)
    components = components or min(train_images.shape[1], train_texts.shape[1])
    cca = CCA(n_components=components, max_iter=2000).fit(train_images, train_texts)
    images, texts = cca.transform(test_images, test_texts)
    return ranking_scores(images, texts, test.labels)


def semantic_matching_scores(train, test, data_config):
    """Test scores of semantic matching: cosine of class posteriors.

    Args:
        train: Training `PairedSplit` (single-label).
        test: Test `PairedSplit`.
        data_config: The `DataConfig` whose feature transforms apply.

    Returns:
        Dict of `ranking_scores`.
    """
    from sklearn.linear_model import LogisticRegression

    classes = train.labels.argmax(1)
    posteriors = []
    for train_features, test_features in zip(
        _prepared(train, data_config),
        _prepared(test, data_config, statistics_of=train),
        strict=True,
    ):
        model = LogisticRegression(max_iter=2000).fit(train_features, classes)
        posteriors.append(model.predict_proba(test_features))
    return ranking_scores(*posteriors, test.labels)


def ranking_scores(image_embeddings, text_embeddings, labels):
    """MAP@all and recall@k of the true partner, Image→Text and Text→Image.

    Args:
        image_embeddings: float array `(num_pairs, dim)`.
        text_embeddings: float array `(num_pairs, dim)`, row `i` paired with
            image `i`.
        labels: class ids `(num_pairs,)` or multi-hot `(num_pairs, classes)`.

    Returns:
        Dict with `map_image_to_text`, `map_text_to_image` and
        `recall@{k}_image_to_text` / `_text_to_image` for `RECALL_K_VALUES`.
    """
    report = retrieval_report(
        image_embeddings, text_embeddings, labels, recall_k_values=RECALL_K_VALUES
    )
    scores = {}
    for direction in DIRECTIONS:
        scores[f"map_{direction}"] = report[direction]["map"]
        for k in RECALL_K_VALUES:
            scores[f"recall@{k}_{direction}"] = report[direction][f"recall@{k}"]
    return scores


def encoder_scores(encoder, split):
    """`ranking_scores` of a `CrossModalEncoder` on a split's pairs."""
    return ranking_scores(
        encoder.predict_arrays(split.images, "image"),
        encoder.predict_arrays(split.texts, "text"),
        split.labels,
    )


def cmgan_scores(config, seeds, dataset, *, work_dir=None):
    """Trains `config` once per seed and scores what each run ranks.

    Each run's epoch is chosen on its validation split, as `cmgan-train`
    does; the test split is scored once, at the end. A run that ranks class
    probabilities is also scored by its standardised common representation,
    and one that ranks both by each of them alone (`_PARTS`).

    Args:
        config: `ExperimentConfig` (its `runtime.model_dir` is ignored).
        seeds: Training seeds.
        dataset: The `CrossModalDataset` to train and test on.
        work_dir: Where runs are written; default: a temporary directory.

    Returns:
        Dict from representation name to a summary: `ranking_scores` keys, each
        a list with one value per seed, with `_mean` and `_std` beside each;
        `validation_map_image_to_text` / `_text_to_image` (the chosen
        epoch's, for the representation the run was trained to rank),
        `best_epoch` (that epoch, from 1; for an ensemble, its members') and
        `training_time_s`, lists too.
    """
    runs = {}
    with tempfile.TemporaryDirectory(dir=work_dir) as root:
        for seed in seeds:
            model_dir = os.path.join(root, f"seed_{seed}")
            metrics = train(
                config.replace(
                    training={"seed": seed},
                    runtime={"model_dir": model_dir, "verbose": 0},
                ),
                dataset=dataset,
            )
            _, encoder = load_run(model_dir)
            record = {
                f"validation_map_{d}": metrics["validation"][f"map_{d}"]
                for d in DIRECTIONS
            }
            record["best_epoch"] = metrics["best_epoch"]
            record["training_time_s"] = metrics["training_time_s"]
            if "class_weighting" in metrics:
                record["class_weighting"] = [
                    metrics["class_weighting"][k]
                    for k in ("class_weight", "temperature")
                ]
            ranked = config.model.representation
            runs.setdefault(ranked, []).append(
                {**record, **encoder_scores(encoder, dataset.test)}
            )
            for representation in _PARTS.get(ranked, ()):
                part = _part_encoder(encoder, representation, dataset.train)
                runs.setdefault(representation, []).append(
                    encoder_scores(part, dataset.test)
                )
    return {name: _summary(records) for name, records in runs.items()}


def _part_encoder(encoder, representation, train):
    """The same run's members, ranking by `representation` instead.

    Each part keeps its member's temperature and standardisation statistics;
    a member that ranks class probabilities alone has none, and its
    standardisation is fitted on the training pairs `train`.
    """
    members = []
    for member in getattr(encoder, "members", [encoder]):
        options = {
            "representation": representation,
            "temperature": member.temperature,
            "multi_label": member.multi_label,
            "text_vectorizer": member.text_vectorizer,
        }
        if representation in STANDARDIZED and member.statistics is None:
            part = CrossModalEncoder.from_generator(
                member.generator, train.images, train.texts, **options
            )
        else:
            part = CrossModalEncoder(
                member.generator,
                statistics=member.statistics
                if representation in STANDARDIZED
                else None,
                **options,
            )
            part.build(encoder.get_build_config()["input_shape"])
        members.append(part)
    return members[0] if len(members) == 1 else EnsembleEncoder(members)


def _summary(records):
    """Lists each key over runs; adds mean and spread of the test scores."""
    summary = {key: [record[key] for record in records] for key in records[0]}
    for key in [k for k in summary if k.startswith(("map_", "recall@"))]:
        summary[f"{key}_mean"] = statistics.fmean(summary[key])
        summary[f"{key}_std"] = statistics.pstdev(summary[key])
    return summary
