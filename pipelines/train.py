r"""Trains a CM-GAN and writes checkpoints, config, logs and metrics.

Example:
    cmgan-train --dataset=wikipedia_classic --model_dir=/tmp/run1
"""

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


def main(argv):
    """Runs the command; `argv` holds what absl did not parse as flags."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        config = config_flags.config_from_flags()
        if not config.runtime.model_dir:
            raise InvalidInputError("--model_dir is required.")
        train(config, overwrite=_OVERWRITE.value)
    except InvalidInputError as error:
        sys.exit(f"cmgan-train: error: {error}")


def run():
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
