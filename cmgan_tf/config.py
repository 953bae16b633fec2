"""Experiment configuration: one frozen dataclass tree, saved beside every artefact.

The command lines build an `ExperimentConfig` from flags; the library reads only
this object. `config.json` in a model directory is `ExperimentConfig.to_json()`,
and `ExperimentConfig.from_json` rebuilds exactly the same object, so any
checkpoint says how it was made and can be rebuilt from that alone.
"""

import dataclasses
import json
import types
import typing

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.backbones import BACKBONES
from cmgan_tf.models.encoder import REPRESENTATIONS

STRATEGIES = ("auto", "mirrored", "multi_worker", "default")
CLASSIFIERS = ("per_modality", "shared")
INTER_DISCRIMINATORS = ("conditional", "unconditional")
FEATURE_TRANSFORMS = ("none", "sqrt")
IMAGE_BACKBONES = ("conv", *BACKBONES)


def _require(condition, message):
    if not condition:
        raise InvalidInputError(message)


def _require_units(name, units, allow_empty=True):
    _require(
        isinstance(units, tuple)
        and (allow_empty or units)
        and all(isinstance(u, int) and u > 0 for u in units),
        f"`{name}` must be a tuple of positive integers"
        f"{'' if allow_empty else ' with at least one entry'}. "
        f"Received: {name}={units!r}",
    )


def _require_choice(name, value, choices):
    _require(
        value in choices,
        f"`{name}` must be one of {', '.join(choices)}. Received: {name}={value!r}",
    )


def _require_non_negative(config, *names):
    for name in names:
        value = getattr(config, name)
        _require(
            isinstance(value, int | float) and value >= 0,
            f"`{name}` must be a non-negative number. Received: {name}={value!r}",
        )


def _require_bool(config, *names):
    for name in names:
        value = getattr(config, name)
        _require(
            isinstance(value, bool),
            f"`{name}` must be true or false. Received: {name}={value!r}",
        )


def _require_positive_int(config, *names):
    for name in names:
        value = getattr(config, name)
        _require(
            isinstance(value, int) and not isinstance(value, bool) and value > 0,
            f"`{name}` must be a positive integer. Received: {name}={value!r}",
        )


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which data to train on and how it is prepared.

    Attributes:
        dataset: Registered dataset name (see `cmgan_tf.data.dataset_names()`);
            `"tfds"` reads the prepared TFDS dataset named by `tfds_name`.
        data_dir: Where the dataset's files are. `None` uses the copy shipped
            with the package where there is one (`wikipedia_classic`). For
            `"tfds"`, the TFDS data directory the dataset was prepared in;
            `None` is TFDS's default (`~/tensorflow_datasets`).
        validation_fraction: Share of the training pairs held out, stratified
            by class, to choose the epoch and hyper-parameters. The test split
            is never used for choosing anything. Not used for datasets whose
            files have their own validation split (`sdml_h5`, `mrl_mat`
            files with `valid_` / `val_` keys), which is used instead.
        image_transform: Applied to image features before standardisation:
            `"none"` or `"sqrt"` (signed square root, the Hellinger map that
            suits bag-of-visual-words histograms).
        text_transform: Same, for text features.
        image_size: Side that images are resized to (`image_captions` and
            `tfds` datasets only).
        tfds_name: `tfds` dataset only: the TFDS name, with a configuration
            if needed, e.g. `coco_captions` or `cmgan_shapes/small`. Nothing
            is downloaded; prepare the dataset first with `tfds build`.
        tfds_image_key: `tfds` dataset only: key of the Image feature.
        tfds_caption_key: `tfds` dataset only: key of the Text feature, or of
            a Sequence of Text whose first caption is used; nested keys are
            joined with `/`, e.g. `captions/text`.
        tfds_label_key: `tfds` dataset only: key of the ClassLabel feature
            (single-label), or of a Sequence of ClassLabel (multi-label, e.g.
            `objects/label`; items with no label are dropped).
        tfds_train_split: `tfds` dataset only: the TFDS split to train on,
            e.g. `train` or `train[:10%]`.
        tfds_test_split: `tfds` dataset only: the TFDS split to test on.
    """

    dataset: str = "wikipedia_classic"
    data_dir: str | None = None
    validation_fraction: float = 0.2
    image_transform: str = "none"
    text_transform: str = "none"
    image_size: int = 64
    tfds_name: str | None = None
    tfds_image_key: str = "image"
    tfds_caption_key: str = "caption"
    tfds_label_key: str = "label"
    tfds_train_split: str = "train"
    tfds_test_split: str = "test"

    def __post_init__(self):
        _require(
            isinstance(self.dataset, str) and self.dataset,
            f"`dataset` must be a non-empty name. Received: dataset={self.dataset!r}",
        )
        _require(
            isinstance(self.validation_fraction, float)
            and 0.0 < self.validation_fraction < 1.0,
            "`validation_fraction` must be a float strictly between 0 and 1. "
            f"Received: validation_fraction={self.validation_fraction!r}",
        )
        _require_choice("image_transform", self.image_transform, FEATURE_TRANSFORMS)
        _require_choice("text_transform", self.text_transform, FEATURE_TRANSFORMS)
        _require_positive_int(self, "image_size")
        tfds_fields = [
            f for f in dataclasses.fields(self) if f.name.startswith("tfds_")
        ]
        if self.dataset == "tfds":
            _require(
                self.tfds_name is not None,
                "Dataset 'tfds' needs `tfds_name`, the TFDS dataset to read, "
                "e.g. --tfds_name=coco_captions. Received: tfds_name=None",
            )
            for field in tfds_fields:
                value = getattr(self, field.name)
                _require(
                    isinstance(value, str) and value.strip(),
                    f"`{field.name}` must be a non-empty string. "
                    f"Received: {field.name}={value!r}",
                )
        else:
            changed = [
                f"{f.name}={getattr(self, f.name)!r}"
                for f in tfds_fields
                if getattr(self, f.name) != f.default
            ]
            _require(
                not changed,
                "The `tfds_*` fields apply to dataset 'tfds' only. Received: "
                f"dataset={self.dataset!r}, {', '.join(changed)}. Pass "
                "--dataset=tfds to read a TFDS dataset.",
            )


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Sizes and structure of the generator and the discriminators.

    Attributes:
        encoder_units: Units of the modality-specific encoder blocks
            (Dense + BatchNorm + LeakyReLU + Dropout), input side first.
        common_units: Units of the common blocks applied after them; the last
            entry is the size of the common representation.
        share_common_layers: `True`: the common blocks are one set of layers
            applied to both modalities (the paper's weight sharing). `False`:
            each modality gets its own copy, initialised equally (ablation).
        decoder_units: Units of the decoder blocks, common side first; a final
            Dense layer maps back to the input size.
        shared_decoder_layers: How many of the first decoder blocks are shared
            by the two modalities (the paper shares them; the authors' code
            does not: 0).
        image_dropout: Dropout rate after each image encoder block.
        text_dropout: Dropout rate after each text encoder block.
        common_dropout: Dropout rate after each common block.
        linear_common_output: Make the last common block a plain Dense layer
            (no BatchNorm, activation or dropout), so that the common
            representation is a linear map of the layer before.
        leaky_relu_slope: Negative slope of every LeakyReLU.
        classifier: `"per_modality"` (one classifier on each modality's common
            representation, as in the paper) or `"shared"` (one for both).
        intra_discriminator_units: Hidden units of the intra-modality
            discriminators; `()` is the authors' linear discriminator.
        inter_discriminator: `"conditional"`: `D(s, v)` per modality, as in the
            paper; `"unconditional"`: one `D(s)` telling the modalities apart.
        inter_discriminator_units: Hidden units of the inter-modality
            discriminators.
        representation: What retrieval ranks: `"common"`, the common
            representation; `"standardized_common"`, standardised per
            dimension with statistics of the training pairs (the authors'
            evaluation standardises too, with test statistics); or
            `"class_probabilities"`, the semantic classifier's probabilities
            of the common representation (see `CrossModalEncoder`).
        temperature: Softmax temperature of `"class_probabilities"`.
        image_filters: Raw images only: filters of the convolutional image
            trunk's VGG-style blocks, input side first.
        image_trunk_units: Raw images only: size of the image trunk's output.
        vocabulary_size: Raw texts only: token ids, padding and
            out-of-vocabulary included; the most frequent training tokens
            get the others.
        sequence_length: Raw texts only: tokens per caption; longer captions
            are truncated, shorter ones padded.
        embedding_dim: Raw texts only: size of the word embeddings.
        text_window_sizes: Raw texts only: window sizes of the word CNN's
            parallel convolutions.
        text_filters: Raw texts only: filters per window size.
        image_backbone: Raw images only: `"conv"`, the VGG-style trunk
            trained from scratch, or a Keras Applications network
            (`vgg19`, the paper's, `vgg16`, `resnet50`, `mobilenet_v2`)
            loaded from `backbone_weights`.
        backbone_weights: Path of a local weights file of the backbone
            without its top (nothing is downloaded); required with a backbone.
        backbone_trainable: Fine-tune the backbone; by default it is frozen
            and runs in inference mode, as the paper uses fixed VGG19 features.
        word_vectors: Raw texts only: a local GloVe or word2vec text file
            whose vectors initialise the embeddings of the vocabulary's words
            (their size must be `embedding_dim`); `None` initialises randomly.
    """

    encoder_units: tuple[int, ...] = (1024,)
    common_units: tuple[int, ...] = (1024,)
    share_common_layers: bool = True
    decoder_units: tuple[int, ...] = (1024,)
    shared_decoder_layers: int = 0
    image_dropout: float = 0.0
    text_dropout: float = 0.0
    common_dropout: float = 0.0
    linear_common_output: bool = False
    leaky_relu_slope: float = 0.2
    classifier: str = "per_modality"
    intra_discriminator_units: tuple[int, ...] = ()
    inter_discriminator: str = "conditional"
    inter_discriminator_units: tuple[int, ...] = (512,)
    representation: str = "standardized_common"
    temperature: float = 1.0
    image_filters: tuple[int, ...] = (32, 64, 128)
    image_trunk_units: int = 256
    vocabulary_size: int = 2000
    sequence_length: int = 24
    embedding_dim: int = 64
    text_window_sizes: tuple[int, ...] = (2, 3, 4)
    text_filters: int = 64
    image_backbone: str = "conv"
    backbone_weights: str | None = None
    backbone_trainable: bool = False
    word_vectors: str | None = None

    def __post_init__(self):
        _require_units("encoder_units", self.encoder_units)
        _require_units("common_units", self.common_units, allow_empty=False)
        _require_units("decoder_units", self.decoder_units)
        _require_units("intra_discriminator_units", self.intra_discriminator_units)
        _require_units("inter_discriminator_units", self.inter_discriminator_units)
        _require_units("image_filters", self.image_filters, allow_empty=False)
        _require_units("text_window_sizes", self.text_window_sizes, allow_empty=False)
        _require_positive_int(
            self,
            "image_trunk_units",
            "vocabulary_size",
            "sequence_length",
            "embedding_dim",
            "text_filters",
        )
        _require(
            isinstance(self.shared_decoder_layers, int)
            and 0 <= self.shared_decoder_layers <= len(self.decoder_units),
            "`shared_decoder_layers` must be between 0 and the number of decoder "
            f"blocks ({len(self.decoder_units)}). "
            f"Received: shared_decoder_layers={self.shared_decoder_layers!r}",
        )
        for name in ("image_dropout", "text_dropout", "common_dropout"):
            value = getattr(self, name)
            _require(
                isinstance(value, float) and 0.0 <= value < 1.0,
                f"`{name}` must be a float in [0, 1). Received: {name}={value!r}",
            )
        _require_bool(self, "share_common_layers", "linear_common_output")
        _require_non_negative(self, "leaky_relu_slope")
        _require_choice("classifier", self.classifier, CLASSIFIERS)
        _require_choice(
            "inter_discriminator", self.inter_discriminator, INTER_DISCRIMINATORS
        )
        _require_choice("representation", self.representation, REPRESENTATIONS)
        _require_choice("image_backbone", self.image_backbone, IMAGE_BACKBONES)
        _require(
            (self.image_backbone == "conv") == (self.backbone_weights is None),
            "A backbone needs --backbone_weights, a local weights file of it "
            "without top (nothing is downloaded), and only a backbone takes one. "
            f"Received: image_backbone={self.image_backbone!r}, "
            f"backbone_weights={self.backbone_weights!r}",
        )
        _require_bool(self, "backbone_trainable")
        _require(
            isinstance(self.temperature, float) and self.temperature > 0,
            "`temperature` must be a positive float. "
            f"Received: temperature={self.temperature!r}",
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

    Attributes:
        intra_adversarial_weight: Reconstructions should pass the
            intra-modality discriminators as originals.
        inter_adversarial_weight: Each modality's common representation should
            pass the other modality's inter-modality discriminator.
        semantic_weight: Classification of the common representation.
        reconstruction_weight: Mean squared error of the reconstructions (off
            in the authors' configuration).
        pair_distance_weight: Mean squared distance between the common
            representations of a pair (off in the authors' configuration).
    """

    intra_adversarial_weight: float = 1.0
    inter_adversarial_weight: float = 1.0
    semantic_weight: float = 1.0
    reconstruction_weight: float = 0.0
    pair_distance_weight: float = 0.0

    def __post_init__(self):
        _require_non_negative(self, *(f.name for f in dataclasses.fields(self)))
        _require(
            any(getattr(self, f.name) > 0 for f in dataclasses.fields(self)),
            "At least one loss weight must be positive; all are zero.",
        )


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How the adversarial game is optimised.

    Attributes:
        epochs: Passes over the training pairs.
        batch_size: Global batch size (split across replicas).
        generator_steps: Generator updates per discriminator update (the
            authors' code uses 5).
        learning_rate: Initial Adam learning rate of both players.
        beta_1: Adam's first-moment decay (0.5, as in the authors' code).
        weight_decay: Decoupled weight decay of the generator (AdamW); 0 is Adam.
        ema_momentum: Momentum of an exponential moving average of the
            generator's weights (Polyak averaging, Keras' `use_ema`): each
            epoch's validation, the checkpoints and the exported encoder use
            the averaged weights. 0 turns averaging off.
        lr_decay_rate: Factor applied to the learning rate every
            `lr_decay_epochs` epochs.
        lr_decay_epochs: Epochs between learning-rate decays.
        clip_norm: Clip each player's gradients to this global norm; 0 turns
            clipping off.
        seed: Seeds weights, the validation split, shuffling and sampling.
    """

    epochs: int = 100
    batch_size: int = 64
    generator_steps: int = 5
    learning_rate: float = 1e-3
    beta_1: float = 0.5
    weight_decay: float = 0.0
    ema_momentum: float = 0.0
    lr_decay_rate: float = 0.5
    lr_decay_epochs: int = 100
    clip_norm: float = 0.0
    seed: int = 0

    def __post_init__(self):
        _require_positive_int(
            self,
            "epochs",
            "batch_size",
            "generator_steps",
            "lr_decay_epochs",
        )
        _require_non_negative(self, "weight_decay", "clip_norm")
        _require(
            isinstance(self.seed, int)
            and not isinstance(self.seed, bool)
            and self.seed >= 0,
            f"`seed` must be a non-negative integer. Received: seed={self.seed!r}",
        )
        _require(
            isinstance(self.learning_rate, float) and self.learning_rate > 0,
            "`learning_rate` must be a positive float. "
            f"Received: learning_rate={self.learning_rate!r}",
        )
        _require(
            isinstance(self.ema_momentum, float) and 0.0 <= self.ema_momentum < 1.0,
            "`ema_momentum` must be a float in [0, 1). "
            f"Received: ema_momentum={self.ema_momentum!r}",
        )
        for name in ("beta_1", "lr_decay_rate"):
            value = getattr(self, name)
            _require(
                isinstance(value, float) and 0.0 < value <= 1.0,
                f"`{name}` must be a float in (0, 1]. Received: {name}={value!r}",
            )


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Where and how training runs.

    Attributes:
        model_dir: Directory for checkpoints, `config.json`, TensorBoard logs
            and metrics.
        strategy: `"auto"` (MirroredStrategy over all visible GPUs if there are
            any, else the default strategy), `"mirrored"` (MirroredStrategy
            over all visible GPUs, or all logical CPUs when there is no GPU),
            `"multi_worker"` (MultiWorkerMirroredStrategy over the cluster in
            the `TF_CONFIG` environment variable; run the same command on
            every worker) or `"default"` (one device).
        jit_compile: Compile each player's forward, losses and gradients with
            XLA.
        verbose: Keras progress output: 0 silent, 1 progress bar, 2 one line
            per epoch.
        keep_checkpoints: Epoch checkpoints kept in `model_dir/checkpoints`,
            from which re-running the same command resumes a killed run.
    """

    model_dir: str = ""
    strategy: str = "auto"
    jit_compile: bool = True
    verbose: int = 1
    keep_checkpoints: int = 2

    def __post_init__(self):
        _require_choice("strategy", self.strategy, STRATEGIES)
        _require_bool(self, "jit_compile")
        _require_positive_int(self, "keep_checkpoints")
        _require(
            self.verbose in (0, 1, 2),
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

    def replace(self, **sections):
        """Returns a copy with fields of sections replaced.

        Args:
            **sections: Section name to a dict of field overrides, e.g.
                `training={"epochs": 5}`.

        Returns:
            A new, validated `ExperimentConfig`.
        """
        updates = {}
        for name, overrides in sections.items():
            if name not in _SECTION_TYPES:
                raise InvalidInputError(
                    f"Unknown configuration section {name!r}; "
                    f"expected one of {', '.join(_SECTION_TYPES)}."
                )
            updates[name] = _replace_fields(getattr(self, name), overrides)
        return dataclasses.replace(self, **updates)

    def to_dict(self):
        """Returns the configuration as plain JSON-compatible dicts."""
        return dataclasses.asdict(self)

    def to_json(self):
        """Returns the configuration as an indented JSON string."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data):
        """Builds a validated configuration from `to_dict()` output.

        Raises:
            InvalidInputError: on unknown sections or fields, or invalid values.
        """
        if not isinstance(data, dict):
            raise InvalidInputError(
                "A configuration must be a JSON object. "
                f"Received: {type(data).__name__}"
            )
        unknown = set(data) - set(_SECTION_TYPES)
        if unknown:
            raise InvalidInputError(
                f"Unknown configuration sections {sorted(unknown)}; "
                f"expected {', '.join(_SECTION_TYPES)}."
            )
        return cls(
            **{
                name: _replace_fields(section_type(), data.get(name, {}))
                for name, section_type in _SECTION_TYPES.items()
            }
        )

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


_SECTION_TYPES = {
    "data": DataConfig,
    "model": ModelConfig,
    "loss": LossConfig,
    "training": TrainingConfig,
    "runtime": RuntimeConfig,
}


def _replace_fields(section, overrides):
    """Returns `section` with `overrides` applied, coercing JSON types back."""
    fields = {f.name: f for f in dataclasses.fields(section)}
    unknown = set(overrides) - set(fields)
    if unknown:
        raise InvalidInputError(
            f"Unknown {type(section).__name__} fields {sorted(unknown)}; "
            f"expected some of {', '.join(fields)}."
        )
    hints = typing.get_type_hints(type(section))
    coerced = {name: _coerce(hints[name], value) for name, value in overrides.items()}
    return dataclasses.replace(section, **coerced)


def _coerce(hint, value):
    # JSON has no tuples and writes 1.0 as 1.0 but users write 1; restore the
    # declared types so that validation and equality behave.
    if typing.get_origin(hint) is tuple and isinstance(value, list | tuple):
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, types.UnionType) and float in typing.get_args(hint):
        return float(value) if isinstance(value, int) else value
    return value


PRESETS = {
    # The authors' Lua Torch configuration (DESIGN.md section 1), sizes as
    # published; 100 epochs instead of 1000-2000 to stay affordable on a CPU.
    "reference": ExperimentConfig(),
    # Tuned for the Wikipedia benchmark on its validation split (README,
    # "Retrieval quality"): narrower networks with strong image dropout, a
    # linear common layer, one classifier for both modalities, a small pair
    # distance term, no intra-modality game, Polyak-averaged weights, and
    # retrieval by tempered class probabilities.
    "wikipedia": ExperimentConfig(
        data=DataConfig(image_transform="sqrt"),
        model=ModelConfig(
            encoder_units=(256,),
            common_units=(128,),
            linear_common_output=True,
            decoder_units=(),
            image_dropout=0.7,
            text_dropout=0.2,
            classifier="shared",
            representation="class_probabilities",
            temperature=0.25,
        ),
        loss=LossConfig(intra_adversarial_weight=0.0, pair_distance_weight=0.03),
        training=TrainingConfig(epochs=40, generator_steps=1, ema_momentum=0.99),
    ),
    # The generated shapes dataset from pixels and captions, in a minute or two
    # on a CPU: the paper's structure (per-modality classifiers, both
    # adversarial games) at a smaller size.
    "shapes": ExperimentConfig(
        data=DataConfig(dataset="shapes"),
        model=ModelConfig(
            encoder_units=(512,),
            common_units=(256,),
            decoder_units=(512,),
            image_filters=(16, 32, 64),
        ),
        training=TrainingConfig(epochs=8, generator_steps=1),
    ),
    # Seconds on a CPU: for smoke tests of the whole pipeline, not for quality.
    "smoke": ExperimentConfig(
        model=ModelConfig(
            encoder_units=(32,),
            common_units=(16,),
            decoder_units=(32,),
            inter_discriminator_units=(16,),
        ),
        training=TrainingConfig(epochs=2, batch_size=32, generator_steps=2),
        runtime=RuntimeConfig(verbose=0),
    ),
}


def preset(name):
    """Returns a named preset configuration.

    Args:
        name: One of `PRESETS`.

    Raises:
        InvalidInputError: if the name is unknown.
    """
    if name not in PRESETS:
        raise InvalidInputError(
            f"Unknown preset {name!r}. Known presets: {', '.join(PRESETS)}."
        )
    return PRESETS[name]
