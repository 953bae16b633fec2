r"""Trains a CM-GAN and writes checkpoints, config, logs and metrics.

The configuration is --preset, then each --config_file, then the flags given.

Examples:
    cmgan-train --dataset=wikipedia_classic --model_dir=/tmp/run1
    cmgan-train --config_file=/tmp/run1/config.json --epochs=200 \
        --model_dir=/tmp/run2
"""

from pipelines import _quiet  # noqa: F401  Before anything imports TensorFlow.

# isort: split

import sys

from absl import app, flags

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.runs.trainer import train
from pipelines import flags as config_flags

config_flags.define_config_flags()
# The config flags are defined in pipelines.flags; list them in --help.
flags.adopt_module_key_flags(config_flags)
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace a finished run in --model_dir."
)
_PRINT_CONFIG = flags.DEFINE_bool(
    "print_config",
    False,
    "Print the resolved configuration as JSON and exit without training.",
)


def main(argv):
    """Runs the command; `argv` holds what absl did not parse as flags."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        preset, config = config_flags.resolve_config()
        if _PRINT_CONFIG.value:
            print(config.to_json())
            return
        if not config.runtime.model_dir:
            raise InvalidInputError("--model_dir is required.")
        train(config, overwrite=_OVERWRITE.value, preset_name=preset)
    except InvalidInputError as error:
        sys.exit(f"cmgan-train: error: {error}")


def run():
    """Console-script entry point."""
    config_flags.run(main, "cmgan-train")


if __name__ == "__main__":
    run()
