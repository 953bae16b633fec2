"""Running a command line's `main()` in the test process, as its script would."""

import importlib
import sys

from absl import app, flags
from absl.testing import flagsaver

from pipelines import _quiet  # noqa: F401  Defines --tf_log_level before any flagsaver.


def run_main(module_name, *args):
    """Runs `module_name`'s `main()` here as its console script would.

    Returns:
        What the user would read on stderr when the command fails (the
        `sys.exit` message, or absl's usage error), or `None` if it succeeded.
    """
    with flagsaver.flagsaver():
        # A fresh import defines the module's flags; flagsaver deletes them
        # on exit, so that each command sees only its own flags.
        sys.modules.pop(module_name, None)
        try:
            module = importlib.import_module(module_name)
            argv = flags.FLAGS(["prog", *args])
            module.main(argv)
        except SystemExit as exit:
            return str(exit.code)
        except app.UsageError as error:
            return f"FATAL Flags parsing error: {error}"
        finally:
            sys.modules.pop(module_name, None)
    return None
