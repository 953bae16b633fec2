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

from cmgan_tf.models.trunks import transform_features
from cmgan_tf.retrieval.metrics import cross_modal_retrieval_scores
from cmgan_tf.runs.evaluation import evaluate
from cmgan_tf.runs.trainer import train

# Each ablation removes one ingredient of the method from a base configuration.
ABLATIONS = {
    "full": {},
    "no_intra_discriminators": {"loss": {"intra_adversarial_weight": 0.0}},
    "no_inter_discriminators": {"loss": {"inter_adversarial_weight": 0.0}},
    "no_weight_sharing": {"model": {"share_common_layers": False}},
    # Without the semantic loss the classifier is untrained, so retrieval
    # ranks the common representation itself.
    "no_semantic_loss": {
        "loss": {"semantic_weight": 0.0},
        "model": {"representation": "standardized_common"},
    },
}

# The dtype policies compared with float32 (`--mixed_precision`).
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
    """Test MAP of CCA fitted on the training pairs.

    Args:
        train: Training `PairedSplit`.
        test: Test `PairedSplit`.
        data_config: The `DataConfig` whose feature transforms apply.
        components: CCA dimensions; default: the smaller feature size.

    Returns:
        Dict of `cross_modal_retrieval_scores`.
    """
    from sklearn.cross_decomposition import CCA

    train_images, train_texts = _prepared(train, data_config)
    test_images, test_texts = _prepared(test, data_config, statistics_of=train)
    components = components or min(train_images.shape[1], train_texts.shape[1])
    cca = CCA(n_components=components, max_iter=2000).fit(train_images, train_texts)
    images, texts = cca.transform(test_images, test_texts)
    return cross_modal_retrieval_scores(
        _normalized(images), _normalized(texts), test.labels, k_values=()
    )


def semantic_matching_scores(train, test, data_config):
    """Test MAP of semantic matching: cosine of class posteriors.

    Args:
        train: Training `PairedSplit` (single-label).
        test: Test `PairedSplit`.
        data_config: The `DataConfig` whose feature transforms apply.

    Returns:
        Dict of `cross_modal_retrieval_scores`.
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
        posteriors.append(_normalized(model.predict_proba(test_features)))
    return cross_modal_retrieval_scores(*posteriors, test.labels, k_values=())


def _normalized(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cmgan_scores(config, seeds, ablations=tuple(ABLATIONS), work_dir=None):
    """Trains and evaluates CM-GAN for each ablation and seed.

    Args:
        config: Base `ExperimentConfig` (its `runtime.model_dir` is ignored).
        seeds: Training seeds.
        ablations: Names from `ABLATIONS`.
        work_dir: Where runs are written; default: a temporary directory.

    Returns:
        Dict from ablation name to a dict with `map_image_to_text` and
        `map_text_to_image` lists (one value per seed), their means and
        standard deviations, and `training_time_s` per seed.
    """
    return _variant_scores(
        config, {name: ABLATIONS[name] for name in ablations}, seeds, work_dir
    )


def precision_scores(config, seeds, policies=PRECISION_POLICIES, work_dir=None):
    """Trains and evaluates CM-GAN under each mixed dtype policy and seed.

    The runs differ from `cmgan_scores`' `full` ones (float32) only in
    `training.mixed_precision`, so the two give the cost of mixed precision
    in test MAP (the aim: within 0.01).

    Args:
        config: Base `ExperimentConfig` (its `runtime.model_dir` is ignored).
        seeds: Training seeds.
        policies: Names from `config.MIXED_PRECISION_POLICIES`.
        work_dir: Where runs are written; default: a temporary directory.

    Returns:
        Dict from policy name to a summary as `cmgan_scores` returns.
    """
    variants = {p: {"training": {"mixed_precision": p}} for p in policies}
    return _variant_scores(config, variants, seeds, work_dir)


def _variant_scores(config, variants, seeds, work_dir):
    """Trains and evaluates each variant (name to config sections) and seed."""
    results = {}
    with tempfile.TemporaryDirectory(dir=work_dir) as root:
        for name, sections in variants.items():
            runs = []
            for seed in seeds:
                run_config = config.replace(
                    **{
                        **sections,
                        "training": {**sections.get("training", {}), "seed": seed},
                        "runtime": {
                            "model_dir": os.path.join(root, f"{name}_{seed}"),
                            "verbose": 0,
                        },
                    }
                )
                metrics = train(run_config)
                scores, _ = evaluate(run_config.runtime.model_dir)
                runs.append((scores, metrics["training_time_s"]))
            results[name] = _summary(runs)
    return results


def _summary(runs):
    summary = {"training_time_s": [seconds for _, seconds in runs]}
    for key in ("map_image_to_text", "map_text_to_image"):
        values = [scores[key] for scores, _ in runs]
        summary[key] = values
        summary[f"{key}_mean"] = statistics.fmean(values)
        summary[f"{key}_std"] = statistics.pstdev(values)
    return summary
