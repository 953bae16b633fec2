"""Keeps TensorFlow's logging out of the command lines; import it before TensorFlow.

TensorFlow's C++ runtime reads `TF_CPP_MIN_LOG_LEVEL` once, when it loads,
which is before absl has parsed a single flag. So this module reads
`--tf_log_level` (and absl's `--verbosity`) straight from `sys.argv`, sets the
variable, and defines `--tf_log_level` so that absl accepts and documents it.
The lines TensorFlow 2.21 logs while its libraries load (oneDNN, CUDA stubs,
once per library) ignore that variable: they go through absl's C++ logging
before anything initialises it. So this module also loads TensorFlow itself,
with the process's stderr captured, and writes back only what the level lets
through. Every entry point imports it first:

    from pipelines import _quiet  # noqa: F401  Before anything imports TF.

    # isort: split
"""

import importlib.util
import logging
import os
import re
import sys
import tempfile

from absl import flags

# TensorFlow's levels: 0 everything, 1 no INFO, 2 no WARNING, 3 no ERROR. Its
# start-up lines (oneDNN, CUDA stubs, CPU features, and "failed call to
# cuInit" logged as an error on every machine without a GPU driver) say
# nothing a user of these commands can act on; real failures raise.
QUIET_LEVEL = 3
_PYTHON_LEVELS = {0: logging.INFO, 1: logging.WARNING}
# absl's C++ log lines: severity letter, then MMDD.
_LOG_LINE = re.compile(rb"^([IWEF])\d{4} ")
_SEVERITIES = b"IWEF"
_LEVELS = ["0", "1", "2", "3"]

TF_LOG_LEVEL = flags.DEFINE_enum(
    "tf_log_level",
    None,
    _LEVELS,
    "TensorFlow's own logging: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR "
    f"(its Python errors still show). Unset: {QUIET_LEVEL}; 0 with --verbosity "
    "of 1 or more; TF_CPP_MIN_LOG_LEVEL if set in the environment.",
)


def _argv_value(argv, *names):
    """Returns the last value given to `--name=value` or `--name value`."""
    found = None
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        name, equals, value = arg.lstrip("-").partition("=")
        if arg.startswith("-") and name in names:
            if equals:
                found = value
            elif index + 1 < len(argv):
                found = argv[index + 1]
    return found


def tf_log_level(argv, environ):
    """Returns the TensorFlow log level that `argv` and `environ` ask for.

    Args:
        argv: The command line, program name first.
        environ: The environment, e.g. `os.environ`.

    Example:
    >>> tf_log_level(["cmgan-train"], {})
    3
    >>> tf_log_level(["cmgan-train", "--verbosity=1"], {})
    0
    >>> tf_log_level(["cmgan-train", "--tf_log_level", "1"], {})
    1
    """
    given = _argv_value(argv[1:], "tf_log_level")
    if given in _LEVELS:
        return int(given)
    verbosity = _argv_value(argv[1:], "verbosity", "v")
    if verbosity is not None and verbosity.isdigit() and int(verbosity) >= 1:
        return 0
    if environ.get("TF_CPP_MIN_LOG_LEVEL", "").isdigit():
        return int(environ["TF_CPP_MIN_LOG_LEVEL"])
    return QUIET_LEVEL


class _TensorFlowRecords(logging.Filter):
    """Drops records that TensorFlow's (and TFDS's) modules log below `threshold`.

    Parts of TensorFlow log through absl's logger (e.g. "Sharding callback
    duration" at every checkpoint), which is also the commands' own logger,
    so the records are told apart by the file that logged them.
    """

    threshold = logging.ERROR

    def filter(self, record):
        return record.levelno >= self.threshold or not record.pathname.startswith(
            _TENSORFLOW_DIRS
        )


_TENSORFLOW_FILTER = _TensorFlowRecords()


def quiet_python_logging(level):
    """Applies C++ log level `level`'s threshold to TensorFlow's Python logging."""
    threshold = _PYTHON_LEVELS.get(level, logging.ERROR)
    logging.getLogger("tensorflow").setLevel(threshold)
    _TENSORFLOW_FILTER.threshold = threshold
    absl_logger = logging.getLogger("absl")
    if _TENSORFLOW_FILTER not in absl_logger.filters:
        absl_logger.addFilter(_TENSORFLOW_FILTER)


def _kept(line, level):
    """Whether a line written to stderr while TensorFlow loaded is shown."""
    if line.startswith(b"WARNING: All log messages before absl::InitializeLog()"):
        return level == 0
    match = _LOG_LINE.match(line)
    return match is None or _SEVERITIES.index(match.group(1)) >= level


def _load_tensorflow(level):
    """Imports TensorFlow and Keras, showing only the stderr lines `level` keeps."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401  Loads TensorFlow's C++ libraries.
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().splitlines(keepends=True):
                if _kept(line, level):
                    sys.stderr.buffer.write(line)
            sys.stderr.flush()


_LEVEL = tf_log_level(sys.argv, os.environ)
os.environ["TF_CPP_MIN_LOG_LEVEL"] = str(_LEVEL)
if "tensorflow" not in sys.modules:
    _load_tensorflow(_LEVEL)
# TensorFlow's own modules, and TFDS's, which logs every dataset it opens.
_TENSORFLOW_DIRS = tuple(
    importlib.util.find_spec(package).submodule_search_locations[0] + os.sep
    for package in ("tensorflow", "tensorflow_datasets")
)
quiet_python_logging(_LEVEL)
