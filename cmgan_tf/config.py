"""Experiment configuration: one frozen dataclass tree, saved beside every artefact.

The command lines build an `ExperimentConfig` from flags; the library reads only
this object. `config.json` in a model directory is `ExperimentConfig.to_json()`,
and `ExperimentConfig.from_json` rebuilds exactly the same object, so any
checkpoint says how it was made and can be rebuilt from that alone.

Every field documents itself in its metadata: `help` is the text of its flag,
and `flag` the flag's name where it is not the field's (fields of the nested
trunk and TFDS sections keep the flat names they had before those sections
existed, e.g. `model.image_trunk.filters` is `--image_filters`). Those flat
names are also accepted as keys of their section, so a `config.json` written
in the flat layout of older runs still loads, and compares equal.

Example:
>>> config = ExperimentConfig().replace(training={"epochs": 5})
>>> config.training.epochs
5
>>> ExperimentConfig.from_dict({"model": {"image_filters": [8, 16]}}).model.image_trunk
ImageTrunkConfig(filters=(8, 16), units=256, backbone='conv', \
backbone_weights=None, backbone_trainable=False)
"""

import dataclasses
import functools
import json
import typing

from cmgan_tf import checks
from cmgan_tf.data.image_stream import BAD_ITEM_POLICIES
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.backbones import BACKBONES
from cmgan_tf.models.encoder import CLASS_REPRESENTATIONS, REPRESENTATIONS

STRATEGIES = ("auto", "mirrored", "multi_worker", "default")
CLASSIFIERS = ("per_modality", "shared")
INTER_DISCRIMINATORS = ("conditional", "unconditional")
FEATURE_TRANSFORMS = ("none", "sqrt")
IMAGE_BACKBONES = ("conv", *BACKBONES)
MIXED_PRECISION_POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


def _field(default, help, *, flag=None):
    """Returns a dataclass field documented by `help`, set by `--flag`."""
    metadata = {"help": help} if flag is None else {"help": help, "flag": flag}
    return dataclasses.field(default=default, metadata=metadata)


def flag_name(field):
    """Returns the flag (and flat-layout key) of a config dataclass field."""
    return field.metadata.get("flag", field.name)


@dataclasses.dataclass(frozen=True)
class TfdsConfig:
    """Which prepared TFDS dataset dataset `"tfds"` reads.

    The fields are the keyword arguments of
    `cmgan_tf.data.tfds_captions.load_tfds_captions`, passed as they are.
    """

    tfds_name: str | None = _field(
        None,
        "`tfds` dataset only: the TFDS name, with a configuration if needed, "
        "e.g. `coco_captions` or `cmgan_shapes/small`. Nothing is downloaded; "
        "prepare the dataset first with `tfds build`.",
    )
    image_key: str = _field(
        "image",
        "`tfds` dataset only: key of the Image feature.",
        flag="tfds_image_key",
    )
    caption_key: str = _field(
        "caption",
        "`tfds` dataset only: key of the Text feature, or of a Sequence of Text "
        "whose first caption is used; nested keys are joined with `/`, e.g. "
        "`captions/text`.",
        flag="tfds_caption_key",
    )
    label_key: str = _field(
        "label",
        "`tfds` dataset only: key of the ClassLabel feature (single-label), or "
        "of a Sequence of ClassLabel (multi-label, e.g. `objects/label`; items "
        "with no label are dropped).",
        flag="tfds_label_key",
    )
    train_split: str = _field(
        "train",
        "`tfds` dataset only: the TFDS split to train on, e.g. `train` or "
        "`train[:10%]`.",
        flag="tfds_train_split",
    )
    test_split: str = _field(
        "test",
        "`tfds` dataset only: the TFDS split to test on.",
        flag="tfds_test_split",
    )
    cache_dir: str | None = _field(
        None,
        "`tfds` dataset only: directory where the training split's images are "
        "copied once, as files, to be streamed in training; by default "
        "`cmgan_tf_images/` in the dataset's TFDS directory.",
        flag="tfds_cache_dir",
    )


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which data to train on and how it is prepared."""

    dataset: str = _field(
        "wikipedia_classic",
        "Registered dataset name (see `cmgan_tf.data.dataset_names()`); `tfds` "
        "reads the prepared TFDS dataset named by --tfds_name.",
    )
    data_dir: str | None = _field(
        None,
        "Where the dataset's files are. Unset uses the copy shipped with the "
        "package where there is one (`wikipedia_classic`). For `tfds`, the TFDS "
        "data directory the dataset was prepared in; unset is TFDS's default "
        "(`~/tensorflow_datasets`).",
    )
    validation_fraction: float = _field(
        0.2,
        "Share of the training pairs held out, stratified by class, to choose "
        "the epoch and hyper-parameters. The test split is never used for "
        "choosing anything. Not used for datasets whose files have their own "
        "validation split (`sdml_h5`, `mrl_mat` files with `valid_` / `val_` "
        "keys), which is used instead.",
    )
    image_transform: str = _field(
        "none",
        "Applied to image features before standardisation: `none` or `sqrt` "
        "(signed square root, the Hellinger map that suits bag-of-visual-words "
        "histograms).",
    )
    text_transform: str = _field("none", "Same, for text features.")
    image_kernel_landmarks: int = _field(
        0,
        "If > 0, image features (after --image_transform) go through an "
        "approximate Gaussian-kernel feature map (Nystroem) with this many "
        "training items as landmarks, the network's input then; 0: none. "
        "Feature vectors only.",
    )
    text_kernel_landmarks: int = _field(0, "Same, for text features.")
    image_size: int = _field(
        64,
        "Side that images are resized to (`image_captions` and `tfds` datasets only).",
    )
    on_bad_item: str = _field(
        "fail",
        "`image_captions` only: a training image that does not decode, found "
        "as training streams the images: `fail` stops training naming the file; "
        "`skip` leaves such images out and logs their count at the end of each "
        "epoch. (The same choices as `cmgan-embed --on_bad_item`.)",
    )
    tfds: TfdsConfig = _field(TfdsConfig(), "The `tfds` dataset's settings.")

    def __post_init__(self):
        checks.require(
            isinstance(self.dataset, str) and self.dataset,
            f"`dataset` must be a non-empty name. Received: dataset={self.dataset!r}",
        )
        checks.check_float_in("validation_fraction", self.validation_fraction, 0.0, 1.0)
        checks.check_choice("image_transform", self.image_transform, FEATURE_TRANSFORMS)
        checks.check_choice("text_transform", self.text_transform, FEATURE_TRANSFORMS)
        for name in ("image_kernel_landmarks", "text_kernel_landmarks"):
            checks.check_count_or_zero(name, getattr(self, name), "no kernel map")
        checks.check_positive_int("image_size", self.image_size)
        checks.check_choice("on_bad_item", self.on_bad_item, BAD_ITEM_POLICIES)
        tfds_fields = dataclasses.fields(TfdsConfig)
        if self.dataset == "tfds":
            checks.require(
                self.tfds.tfds_name is not None,
                "Dataset 'tfds' needs `tfds_name`, the TFDS dataset to read, "
                "e.g. --tfds_name=coco_captions. Received: tfds_name=None",
            )
            for field in tfds_fields:
                value = getattr(self.tfds, field.name)
                if field.name == "cache_dir" and value is None:
                    continue
                checks.require(
                    isinstance(value, str) and value.strip(),
                    f"`{flag_name(field)}` must be a non-empty string. "
                    f"Received: {flag_name(field)}={value!r}",
                )
        else:
            changed = [
                f"{flag_name(f)}={getattr(self.tfds, f.name)!r}"
                for f in tfds_fields
                if getattr(self.tfds, f.name) != f.default
            ]
            checks.require(
                not changed,
                "The `tfds_*` fields apply to dataset 'tfds' only. Received: "
                f"dataset={self.dataset!r}, {', '.join(changed)}. Pass "
                "--dataset=tfds to read a TFDS dataset.",
            )

    def tfds_options(self):
        """Returns the `tfds_options` of `load_dataset`: `None` unless `tfds`."""
        return dataclasses.asdict(self.tfds) if self.dataset == "tfds" else None


@dataclasses.dataclass(frozen=True)
class ImageTrunkConfig:
    """The image trunk of raw images (ignored for feature vectors)."""

    filters: tuple[int, ...] = _field(
        (32, 64, 128),
        "Raw images only: filters of the convolutional image trunk's VGG-style "
        "blocks, input side first.",
        flag="image_filters",
    )
    units: int = _field(
        256,
        "Raw images only: size of the image trunk's output.",
        flag="image_trunk_units",
    )
    backbone: str = _field(
        "conv",
        "Raw images only: `conv`, the VGG-style trunk trained from scratch, or a "
        "Keras Applications network (`vgg19`, the paper's, `vgg16`, `resnet50`, "
        "`mobilenet_v2`) loaded from --backbone_weights.",
        flag="image_backbone",
    )
    backbone_weights: str | None = _field(
        None,
        "Path of a local weights file of the backbone without its top (nothing "
        "is downloaded); required with a backbone.",
    )
    backbone_trainable: bool = _field(
        False,
        "Fine-tune the backbone; by default it is frozen and runs in inference "
        "mode, as the paper uses fixed VGG19 features.",
    )

    def __post_init__(self):
        checks.check_positive_ints("image_filters", self.filters)
        checks.check_positive_int("image_trunk_units", self.units)
        checks.check_choice("image_backbone", self.backbone, IMAGE_BACKBONES)
        checks.require(
            (self.backbone == "conv") == (self.backbone_weights is None),
            "A backbone needs --backbone_weights, a local weights file of it "
            "without top (nothing is downloaded), and only a backbone takes one. "
            f"Received: image_backbone={self.backbone!r}, "
            f"backbone_weights={self.backbone_weights!r}",
        )
        checks.check_bool("backbone_trainable", self.backbone_trainable)


@dataclasses.dataclass(frozen=True)
class TextTrunkConfig:
    """The tokeniser and text trunk of raw captions (ignored for feature vectors)."""

    vocabulary_size: int = _field(
        2000,
        "Raw texts only: token ids, padding and out-of-vocabulary included; the "
        "most frequent training tokens get the others.",
    )
    sequence_length: int = _field(
        24,
        "Raw texts only: tokens per caption; longer captions are truncated, "
        "shorter ones padded.",
    )
    embedding_dim: int = _field(64, "Raw texts only: size of the word embeddings.")
    window_sizes: tuple[int, ...] = _field(
        (2, 3, 4),
        "Raw texts only: window sizes of the word CNN's parallel convolutions.",
        flag="text_window_sizes",
    )
    filters: int = _field(
        64, "Raw texts only: filters per window size.", flag="text_filters"
    )
    word_vectors: str | None = _field(
        None,
        "Raw texts only: a local GloVe or word2vec text file whose vectors "
        "initialise the embeddings of the vocabulary's words (their size must be "
        "--embedding_dim); unset initialises randomly.",
    )

    def __post_init__(self):
        checks.check_positive_ints("text_window_sizes", self.window_sizes)
        for name in ("vocabulary_size", "sequence_length", "embedding_dim"):
            checks.check_positive_int(name, getattr(self, name))
        checks.check_positive_int("text_filters", self.filters)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Sizes and structure of the generator and the discriminators."""

    encoder_units: tuple[int, ...] = _field(
        (1024,),
        "Units of the modality-specific encoder blocks (Dense + BatchNorm + "
        "LeakyReLU + Dropout), input side first.",
    )
    common_units: tuple[int, ...] = _field(
        (1024,),
        "Units of the common blocks applied after them; the last entry is the "
        "size of the common representation.",
    )
    share_common_layers: bool = _field(
        True,
        "True: the common blocks are one set of layers applied to both "
        "modalities (the paper's weight sharing). False: each modality gets its "
        "own copy, initialised equally (ablation).",
    )
    decoder_units: tuple[int, ...] = _field(
        (1024,),
        "Units of the decoder blocks, common side first; a final Dense layer maps "
        "back to the input size.",
    )
    shared_decoder_layers: int = _field(
        0,
        "How many of the first decoder blocks are shared by the two modalities "
        "(the paper shares them; the authors' code does not: 0).",
    )
    image_dropout: float = _field(0.0, "Dropout rate after each image encoder block.")
    text_dropout: float = _field(0.0, "Dropout rate after each text encoder block.")
    common_dropout: float = _field(0.0, "Dropout rate after each common block.")
    linear_common_output: bool = _field(
        False,
        "Make the last common block a plain Dense layer (no BatchNorm, activation "
        "or dropout), so that the common representation is a linear map of the "
        "layer before.",
    )
    leaky_relu_slope: float = _field(0.2, "Negative slope of every LeakyReLU.")
    classifier: str = _field(
        "per_modality",
        "`per_modality` (one classifier on each modality's common "
        "representation, as in the paper) or `shared` (one for both).",
    )
    intra_discriminator_units: tuple[int, ...] = _field(
        (),
        "Hidden units of the intra-modality discriminators; empty is the "
        "authors' linear discriminator.",
    )
    inter_discriminator: str = _field(
        "conditional",
        "`conditional`: D(s, v) per modality, as in the paper; `unconditional`: "
        "one D(s) telling the modalities apart.",
    )
    inter_discriminator_units: tuple[int, ...] = _field(
        (512,), "Hidden units of the inter-modality discriminators."
    )
    representation: str = _field(
        "standardized_common",
        "What retrieval ranks: `common`, the common representation; "
        "`standardized_common`, standardised per dimension with statistics of "
        "the training pairs (the authors' evaluation standardises too, with test "
        "statistics); `class_probabilities`, the semantic classifier's "
        "probabilities of the common representation; or "
        "`standardized_common_and_classes`, both of the last two, so that the "
        "predicted class ranks first and the common space orders items within it.",
    )
    temperature: float = _field(1.0, "Softmax temperature of the class probabilities.")
    class_weight: float = _field(
        1.0,
        "In `standardized_common_and_classes`, the weight of the class "
        "probabilities' cosine against the standardised common representation's.",
    )
    choose_class_weighting: bool = _field(
        False,
        "In `standardized_common_and_classes`, choose --class_weight and "
        "--temperature after training among a small grid (weights 0.5-8, "
        "temperatures 0.25-1), by MAP on the validation pairs that chose the "
        "epoch; --class_weight and --temperature are tried first and kept on a "
        "tie. `metrics.json` records the choice.",
    )
    image_trunk: ImageTrunkConfig = _field(
        ImageTrunkConfig(), "The image trunk of raw images."
    )
    text_trunk: TextTrunkConfig = _field(
        TextTrunkConfig(), "The tokeniser and text trunk of raw captions."
    )

    def __post_init__(self):
        checks.check_positive_ints("common_units", self.common_units)
        for name in (
            "encoder_units",
            "decoder_units",
            "intra_discriminator_units",
            "inter_discriminator_units",
        ):
            checks.check_positive_ints(name, getattr(self, name), allow_empty=True)
        checks.require(
            isinstance(self.shared_decoder_layers, int)
            and 0 <= self.shared_decoder_layers <= len(self.decoder_units),
            "`shared_decoder_layers` must be between 0 and the number of decoder "
            f"blocks ({len(self.decoder_units)}). "
            f"Received: shared_decoder_layers={self.shared_decoder_layers!r}",
        )
        for name in ("image_dropout", "text_dropout", "common_dropout"):
            checks.check_rate(name, getattr(self, name))
        checks.check_bool("share_common_layers", self.share_common_layers)
        checks.check_bool("linear_common_output", self.linear_common_output)
        checks.check_non_negative("leaky_relu_slope", self.leaky_relu_slope)
        checks.check_choice("classifier", self.classifier, CLASSIFIERS)
        checks.check_choice(
            "inter_discriminator", self.inter_discriminator, INTER_DISCRIMINATORS
        )
        checks.check_choice("representation", self.representation, REPRESENTATIONS)
        checks.check_positive_float("temperature", self.temperature)
        checks.check_positive_float("class_weight", self.class_weight)
        checks.check_bool("choose_class_weighting", self.choose_class_weighting)
        checks.require(
            not self.choose_class_weighting
            or self.representation == "standardized_common_and_classes",
            "--choose_class_weighting chooses how much the class probabilities "
            "weigh beside the common representation, which only "
            "--representation=standardized_common_and_classes ranks. Received: "
            f"representation={self.representation!r}.",
        )

    @property
    def common_dim(self):
        """Size of the common representation."""
        return self.common_units[-1]


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Weights of the generator's loss terms; a zero weight switches a term off.

    A zero adversarial weight also removes the discriminators of that family,
    so nothing is trained that no loss uses.
    """

    intra_adversarial_weight: float = _field(
        1.0,
        "Weight of: reconstructions should pass the intra-modality "
        "discriminators as originals.",
    )
    inter_adversarial_weight: float = _field(
        1.0,
        "Weight of: each modality's common representation should pass the other "
        "modality's inter-modality discriminator.",
    )
    semantic_weight: float = _field(
        1.0, "Weight of the classification of the common representation."
    )
    class_probe_weight: float = _field(
        0.0,
        "Weight of the classification of the common representation with its "
        "gradient stopped: trains the semantic classifier without shaping the "
        "common space (what `standardized_common_and_classes` ranks by).",
    )
    reconstruction_weight: float = _field(
        0.0,
        "Weight of the mean squared error of the reconstructions (off in the "
        "authors' configuration).",
    )
    pair_distance_weight: float = _field(
        0.0,
        "Weight of the mean squared distance between the common representations "
        "of a pair (off in the authors' configuration).",
    )
    pair_contrastive_weight: float = _field(
        0.0,
        "Weight of the symmetric InfoNCE over the batch's cosine similarities: "
        "each image should retrieve its own text and each text its own image "
        "(instance-level ranking).",
    )
    class_contrastive_weight: float = _field(
        0.0,
        "Weight of the cross-modal supervised contrastive loss: each item should "
        "retrieve the batch's items of its class in the other modality "
        "(class-level ranking in the common space).",
    )
    label_similarity_weight: float = _field(
        0.0,
        "Weight of DSCMR's discrimination loss: the cosine of any two items, of "
        "either modality, should predict whether they share a label.",
    )
    # On wikipedia_classic's validation split 0.2-0.3 did best and 0.05
    # clearly worse (benchmark_results/quality_issue16.md); cosines do not
    # depend on the features' or the common representation's size.
    contrastive_temperature: float = _field(
        0.2,
        "Softmax temperature of both contrastive terms on cosine similarities; "
        "smaller values sharpen them.",
    )

    def weights(self):
        """Returns `{term: weight}`, the `*_weight` fields without the suffix.

        Example:
        >>> LossConfig().weights()["semantic"]
        1.0
        """
        return {
            f.name.removesuffix("_weight"): getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name.endswith("_weight")
        }

    def __post_init__(self):
        weights = self.weights()
        for term, weight in weights.items():
            checks.check_non_negative(f"{term}_weight", weight)
        checks.require(
            any(weight > 0 for weight in weights.values()),
            "At least one loss weight must be positive; all are zero.",
        )
        checks.check_positive_float(
            "contrastive_temperature", self.contrastive_temperature
        )


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How the adversarial game is optimised."""

    epochs: int = _field(100, "Passes over the training pairs.")
    patience: int = _field(
        0,
        "Stop once validation MAP has not improved for this many epochs; 0 "
        "trains all --epochs. The epoch kept is the best on validation either way.",
    )
    batch_size: int = _field(64, "Global batch size (split across replicas).")
    generator_steps: int = _field(
        5,
        "Generator updates per discriminator update (the authors' code uses 5).",
    )
    learning_rate: float = _field(1e-3, "Initial Adam learning rate of both players.")
    beta_1: float = _field(
        0.5, "Adam's first-moment decay (0.5, as in the authors' code)."
    )
    weight_decay: float = _field(
        0.0, "Decoupled weight decay of the generator (AdamW); 0 is Adam."
    )
    ema_momentum: float = _field(
        0.0,
        "Momentum of an exponential moving average of the generator's weights "
        "(Polyak averaging, Keras' `use_ema`): each epoch's validation, the "
        "checkpoints and the exported encoder use the averaged weights. 0 turns "
        "averaging off.",
    )
    lr_decay_rate: float = _field(
        0.5,
        "Factor applied to the learning rate every --lr_decay_epochs epochs.",
    )
    lr_decay_epochs: int = _field(100, "Epochs between learning-rate decays.")
    clip_norm: float = _field(
        0.0,
        "Clip each player's gradients to this global norm; 0 turns clipping off.",
    )
    seed: int = _field(
        0, "Seeds weights, the validation split, shuffling and sampling."
    )
    ensemble_size: int = _field(
        1,
        "Members to train, from different seeds on the same training and "
        "validation pairs; the encoder ranks by the mean of their cosine "
        "similarities. Each member costs a whole training run and multiplies "
        "the representation's size.",
    )
    refit: bool = _field(
        False,
        "After choosing the epoch on the validation pairs, train again from the "
        "start on the training and validation pairs together for that many "
        "epochs and keep the last: the encoder learns from every labelled pair. "
        "Doubles the training; `metrics.json` reports the validation scores of "
        "the run that chose the epoch.",
    )
    mixed_precision: str = _field(
        "float32",
        "Keras dtype policy of the networks during training: `float32`, "
        "`mixed_bfloat16` or `mixed_float16` (computations in 16 bits, weights, "
        "discriminator and classifier logits, losses and the L2 normalisation in "
        "float32; `mixed_float16` scales the losses with a LossScaleOptimizer). "
        "Pays off on GPUs with tensor cores and on CPUs with AVX512-BF16 or AMX "
        "(bfloat16). The saved encoder is float32 whatever the policy.",
    )

    def __post_init__(self):
        checks.check_choice(
            "mixed_precision", self.mixed_precision, MIXED_PRECISION_POLICIES
        )
        for name in (
            "epochs",
            "batch_size",
            "generator_steps",
            "lr_decay_epochs",
            "ensemble_size",
        ):
            checks.check_positive_int(name, getattr(self, name))
        checks.check_count_or_zero("patience", self.patience, "train all epochs")
        checks.check_bool("refit", self.refit)
        checks.check_non_negative("weight_decay", self.weight_decay)
        checks.check_non_negative("clip_norm", self.clip_norm)
        checks.require(
            isinstance(self.seed, int)
            and not isinstance(self.seed, bool)
            and self.seed >= 0,
            f"`seed` must be a non-negative integer. Received: seed={self.seed!r}",
        )
        checks.check_positive_float("learning_rate", self.learning_rate)
        checks.check_rate("ema_momentum", self.ema_momentum)
        for name in ("beta_1", "lr_decay_rate"):
            checks.check_float_in(
                name, getattr(self, name), 0.0, 1.0, include_high=True
            )


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Where and how training runs."""

    model_dir: str = _field(
        "",
        "Directory for checkpoints, `config.json`, TensorBoard logs and metrics.",
    )
    strategy: str = _field(
        "auto",
        "`auto` (MirroredStrategy over all visible GPUs if there are any, else "
        "the default strategy), `mirrored` (MirroredStrategy over all visible "
        "GPUs, or all logical CPUs when there is no GPU), `multi_worker` "
        "(MultiWorkerMirroredStrategy over the cluster in the TF_CONFIG "
        "environment variable; run the same command on every worker) or "
        "`default` (one device).",
    )
    jit_compile: bool = _field(
        True,
        "Compile each player's forward, losses and gradients with XLA.",
    )
    verbose: int = _field(
        1,
        "Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch.",
    )
    steps_per_execution: int = _field(
        1,
        "Training steps run per call into the compiled training function (Keras' "
        "`steps_per_execution`): fewer calls from Python save their overhead, "
        "which dominates the steps of small networks. The largest divisor of an "
        "epoch's steps not above this value is used, so that epochs keep their "
        "length; batch-level callbacks and the progress bar then see every that "
        "many steps.",
    )
    keep_checkpoints: int = _field(
        2,
        "Epoch checkpoints kept in `model_dir/checkpoints`, from which re-running "
        "the same command resumes a killed run.",
    )

    def __post_init__(self):
        checks.check_choice("strategy", self.strategy, STRATEGIES)
        checks.check_bool("jit_compile", self.jit_compile)
        checks.check_positive_int("keep_checkpoints", self.keep_checkpoints)
        checks.check_positive_int("steps_per_execution", self.steps_per_execution)
        checks.require(
            self.verbose in (0, 1, 2) and not isinstance(self.verbose, bool),
            f"`verbose` must be 0, 1 or 2. Received: verbose={self.verbose!r}",
        )


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines a training run.

    Attributes:
        data: A `DataConfig`.
        model: A `ModelConfig`.
        loss: A `LossConfig`.
        training: A `TrainingConfig`.
        runtime: A `RuntimeConfig`.
    """

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    training: TrainingConfig = TrainingConfig()
    runtime: RuntimeConfig = RuntimeConfig()

    def __post_init__(self):
        checks.require(
            self.model.representation not in CLASS_REPRESENTATIONS
            or self.loss.semantic_weight > 0
            or self.loss.class_probe_weight > 0,
            f"representation={self.model.representation!r} ranks by the semantic "
            "classifier, which trains only with --semantic_weight or "
            "--class_probe_weight above 0; both are 0.",
        )
        checks.require(
            self.training.ensemble_size == 1 or self.runtime.strategy != "multi_worker",
            "--ensemble_size above 1 trains its members one after another in one "
            "process and is not supported with --strategy=multi_worker. Train "
            "with --ensemble_size=1 on the cluster.",
        )
        checks.require(
            not self.training.refit or self.runtime.strategy != "multi_worker",
            "--refit trains twice, one run after the other in one process, and is "
            "not supported with --strategy=multi_worker. Train without --refit on "
            "the cluster.",
        )

    def replace(self, **sections):
        """Returns a copy with fields of sections replaced.

        Args:
            **sections: Section name to a dict of field overrides, e.g.
                `training={"epochs": 5}`. A nested section takes a dict too
                (`model={"image_trunk": {"filters": (8,)}}`), and its fields
                may also be named by their flags (`model={"image_filters":
                (8,)}`), as in the flat layout of older `config.json` files.

        Returns:
            A new, validated `ExperimentConfig`.

        Raises:
            InvalidInputError: naming an unknown section or field, or a value
                of the wrong type or out of range.
        """
        updates = {}
        for name, overrides in sections.items():
            if name not in _SECTION_TYPES:
                raise InvalidInputError(
                    f"Unknown configuration section {name!r}; "
                    f"expected one of {', '.join(_SECTION_TYPES)}."
                )
            updates[name] = _replace_fields(getattr(self, name), name, overrides)
        return dataclasses.replace(self, **updates)

    def to_dict(self):
        """Returns the configuration as plain JSON-compatible dicts."""
        return dataclasses.asdict(self)

    def to_json(self):
        """Returns the configuration as an indented JSON string."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_flags(self):
        """Returns `{flag name: value}` of every field, nested ones included."""
        return {
            name: functools.reduce(getattr, path, self)
            for name, (path, _, _) in config_flags().items()
        }

    @classmethod
    def from_dict(cls, data):
        """Builds a validated configuration from `to_dict()` output.

        Missing sections and fields keep their defaults; the flat layout of
        older runs (nested fields named by their flags) is accepted.

        Raises:
            InvalidInputError: on unknown sections or fields, or invalid values.
        """
        if not isinstance(data, dict):
            raise InvalidInputError(
                "A configuration must be a JSON object. "
                f"Received: {type(data).__name__}"
            )
        return cls().replace(**data)

    @classmethod
    def from_json(cls, text):
        """Builds a validated configuration from `to_json()` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInputError(
                f"The configuration is not valid JSON: {error}"
            ) from error
        return cls.from_dict(data)


_SECTION_TYPES = {f.name: f.type for f in dataclasses.fields(ExperimentConfig)}


def config_flags():
    """Returns `{flag name: (path, dataclass field, type)}` of every field.

    The path is the field's attribute names from `ExperimentConfig`, e.g.
    `("model", "image_trunk", "filters")` for `--image_filters`; its first
    entry is the top-level section (`"data"`, `"model"`, ...).
    """
    result = {}

    def walk(section_type, path):
        hints = typing.get_type_hints(section_type)
        for field in dataclasses.fields(section_type):
            hint = hints[field.name]
            if dataclasses.is_dataclass(hint):
                walk(hint, (*path, field.name))
            else:
                result[flag_name(field)] = ((*path, field.name), field, hint)

    walk(ExperimentConfig, ())
    return result


def flag_differences(config, base):
    """Returns `[(flag, value, base value)]` of the fields where they differ.

    Args:
        config: An `ExperimentConfig`.
        base: Another, e.g. the preset `config` was made from.

    Example:
    >>> base = ExperimentConfig()
    >>> flag_differences(base.replace(training={"epochs": 9}), base)
    [('epochs', 9, 100)]
    """
    old = base.to_flags()
    return [
        (name, value, old[name])
        for name, value in config.to_flags().items()
        if value != old[name]
    ]


def _replace_fields(section, where, overrides):
    """Returns `section` with `overrides` applied, coercing JSON types back.

    Args:
        section: A config dataclass instance.
        where: Its name in messages, e.g. `"model"`.
        overrides: Field name (or, for a nested section's field, its flag
            name) to value; a nested section's value is a dict of its own
            overrides.
    """
    checks.require(
        isinstance(overrides, dict),
        f"`{where}` must be a mapping of {type(section).__name__} fields. "
        f"Received: {where}={overrides!r}",
    )
    hints = typing.get_type_hints(type(section))
    fields = {f.name: f for f in dataclasses.fields(section)}
    nested = [name for name in fields if dataclasses.is_dataclass(hints[name])]
    # The flat layout of older runs named a nested section's fields by flag.
    flat = {
        flag_name(inner): (name, inner.name)
        for name in nested
        for inner in dataclasses.fields(hints[name])
    }
    direct, moved, unknown = {}, {}, []
    for key, value in overrides.items():
        if key in fields:
            direct[key] = value
        elif key in flat:
            outer, inner = flat[key]
            moved.setdefault(outer, {})[inner] = value
        else:
            unknown.append(key)
    if unknown:
        raise InvalidInputError(
            f"Unknown {type(section).__name__} fields {sorted(map(str, unknown))}; "
            f"expected some of {', '.join(fields)}."
        )
    for name in nested:
        value = direct.get(name, {})
        if isinstance(value, hints[name]):
            value = dataclasses.asdict(value)
        if name in direct or name in moved:
            checks.require(
                isinstance(value, dict),
                f"`{name}` must be a mapping of {hints[name].__name__} fields. "
                f"Received: {name}={value!r}",
            )
            direct[name] = _replace_fields(
                getattr(section, name), name, {**value, **moved.get(name, {})}
            )
    for name, value in direct.items():
        if name not in nested:
            direct[name] = _coerce(flag_name(fields[name]), hints[name], value)
    return dataclasses.replace(section, **direct)


def _expected(hint):
    """Returns what a value of type `hint` is, for messages."""
    if typing.get_origin(hint) is tuple:
        return "a list of integers"
    names = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
    }
    if hint in names:
        return names[hint]
    return " or ".join(
        "null" if arg is type(None) else names[arg] for arg in typing.get_args(hint)
    )


def _coerce(name, hint, value):
    """Returns `value` in the declared type `hint` of field `name`.

    Raises:
        InvalidInputError: if `value` is of another kind, e.g. a string for
            an integer field.
    """
    # JSON has no tuples and writes 1.0 as 1.0 but users write 1; restore the
    # declared types so that validation and equality behave.
    if typing.get_origin(hint) is tuple and isinstance(value, list | tuple):
        value = tuple(value)
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    else:
        kinds = [hint] if typing.get_origin(hint) is None else typing.get_args(hint)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = any(
            isinstance(value, kind) and not (kind is int and isinstance(value, bool))
            for kind in kinds
            if kind is not tuple
        )
    checks.require(
        ok, f"`{name}` must be {_expected(hint)}. Received: {name}={value!r}"
    )
    return value
