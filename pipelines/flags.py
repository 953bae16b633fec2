"""Command-line flags for `ExperimentConfig`, and how every command runs.

Every config field is a flag of its flat name (`--epochs`,
`--common_units=1024,512`, `--nojit_compile`, `--image_filters=8,16`), typed by
the field's type and documented by its `help` metadata, so the flags cannot
drift from the config. The configuration is `--preset`, then each
`--config_file` (JSON or YAML, later files win; a run's `config.json` works as
it is), then the flags given on the command line.

How an entry point (`pipelines/*.py`, `export/*.py`) is written:

- Its first import is `from pipelines import _quiet`, then `# isort: split`,
  so that TensorFlow's start-up logging is off before TensorFlow is imported.
- Its flags are `flags.DEFINE_*` at module level, read through the returned
  holders' `.value`; `cmgan-train` calls `define_config_flags()` and
  `flags.adopt_module_key_flags(pipelines.flags)` for the config flags.
- `main(argv)` rejects stray arguments with `app.UsageError`, turns
  `InvalidInputError` into `sys.exit("cmgan-xxx: error: ...")`, and calls one
  library function; `run()` is `pipelines.flags.run(main, "cmgan-xxx")`.
- `--help` then lists the module's own (key) flags, grouped by config section,
  with the values they take under the chosen preset and files; a flag
  defined in the module is listed under the command's name, with no further
  registration.
- Tests call `main()` in-process: `tests/test_cli.py`'s `_main` imports the
  module afresh under `absl.testing.flagsaver`, parses argv with
  `flags.FLAGS(...)` and drops the module's flags afterwards, so commands
  whose flags share names (`--model_dir`) can be tested in one process.
"""

import dataclasses
import functools
import json
import sys
import textwrap

import tensorflow as tf
import yaml
from absl import app, flags

from cmgan_tf.config import ExperimentConfig, config_flags
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.presets import PRESETS, preset
from pipelines import _quiet

_FIELDS = config_flags()
_SECTIONS = tuple(f.name for f in dataclasses.fields(ExperimentConfig))
_HELP_ARGS = ("-h", "--help", "-help", "-?", "--helpshort")


def define_config_flags(flag_values=flags.FLAGS):
    """Defines `--preset`, `--config_file` and one flag per config field.

    Args:
        flag_values: The `absl.flags.FlagValues` to define them on.
    """
    flags.DEFINE_enum(
        "preset",
        "reference",
        list(PRESETS),
        "Named configuration that the configuration files and the other flags "
        "override.",
        flag_values=flag_values,
    )
    flags.DEFINE_multi_string(
        "config_file",
        None,
        "A JSON or YAML file of configuration sections, e.g. a run's "
        "config.json or {training: {epochs: 5}}; repeat it to layer files "
        "(later files win). A top-level `preset: NAME` names the preset it "
        "overrides. Flags given on the command line override the files.",
        flag_values=flag_values,
    )
    defaults = ExperimentConfig().to_flags()
    for name, (_, field, hint) in _FIELDS.items():
        default, help_text = defaults[name], field.metadata["help"]
        if isinstance(default, tuple):
            define = flags.DEFINE_list
            default = [str(v) for v in default]
            help_text += " Comma-separated integers; '' for none."
        elif hint is bool:
            define = flags.DEFINE_bool
        elif hint is int:
            define = flags.DEFINE_integer
        elif hint is float:
            define = flags.DEFINE_float
        else:
            define = flags.DEFINE_string
        define(name, default, help_text, flag_values=flag_values)


def _parse_units(name, values):
    try:
        return tuple(int(v) for v in values if v.strip())
    except ValueError:
        raise InvalidInputError(
            f"--{name} must be comma-separated integers. Received: {','.join(values)}"
        ) from None


def _read_config_file(path):
    """Returns `(preset name or None, sections)` of a JSON or YAML file."""
    try:
        with tf.io.gfile.GFile(path) as handle:
            text = handle.read()
    except tf.errors.OpError as error:
        raise InvalidInputError(
            f"cannot be read ({error.message}); expected an existing JSON or YAML "
            "file of configuration sections."
        ) from None
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        kind = "JSON" if path.endswith(".json") else "YAML"
        reason = " ".join(str(error).split())
        raise InvalidInputError(f"is not valid {kind}: {reason}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(
            "must hold a mapping of configuration sections "
            f"({', '.join(_SECTIONS)}). Received: {type(data).__name__}"
        )
    name = data.pop("preset", None)
    if name is not None and name not in PRESETS:
        raise InvalidInputError(
            f"`preset` must be one of {', '.join(PRESETS)}. Received: preset={name!r}"
        )
    return name, data


def resolve_config(flag_values=flags.FLAGS):
    """Returns `(preset name, ExperimentConfig)` of the parsed flags.

    The configuration is the preset, then each `--config_file` in order, then
    the flags given on the command line. The preset is `--preset`, or the one
    the files name; the files may not name another one.

    Args:
        flag_values: Parsed `absl.flags.FlagValues` holding the flags of
            `define_config_flags`.

    Raises:
        InvalidInputError: naming the file or flag, the key and what was
            expected, when a file is missing or invalid or a value is.
    """
    files = []
    name = flag_values["preset"].value if flag_values["preset"].present else None
    named_by = f"--preset={name}" if name else None
    for path in flag_values["config_file"].value or ():
        where = f"--config_file={path}"
        try:
            file_preset, sections = _read_config_file(path)
        except InvalidInputError as error:
            raise InvalidInputError(f"{where} {error}") from None
        if file_preset is not None:
            if name is not None and file_preset != name:
                raise InvalidInputError(
                    f"{where} names preset {file_preset!r}, which conflicts with "
                    f"{named_by}. Name one preset, or none in the file."
                )
            name, named_by = file_preset, f"preset {file_preset!r} of {where}"
        files.append((where, sections))
    name = name or flag_values["preset"].value
    config = preset(name)
    for where, sections in files:
        try:
            config = config.replace(**sections)
        except InvalidInputError as error:
            raise InvalidInputError(f"{where}: {error}") from None
    overrides = {}
    for flag, (path, _, _) in _FIELDS.items():
        if not flag_values[flag].present:
            continue
        value = flag_values[flag].value
        if isinstance(value, list):
            value = _parse_units(flag, value)
        overrides.setdefault(path[0], {})[flag] = value
    return name, config.replace(**overrides)


def config_from_flags(flag_values=flags.FLAGS):
    """Returns the `ExperimentConfig` of the parsed flags (see `resolve_config`)."""
    return resolve_config(flag_values)[1]


def _format_value(value):
    if value is None or value == "":
        return "(unset)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def help_text(program, module_name, doc, flag_values=flags.FLAGS):
    """Returns `--help`: the module's own flags by group, with their values.

    Config flags show the value they take under the preset and configuration
    files (and any flags given), other flags their default or given value.

    Args:
        program: The command's name, e.g. `"cmgan-train"`.
        module_name: Name absl registered the command's flags under.
        doc: The command's docstring, shown first.
        flag_values: Parsed `absl.flags.FlagValues`.

    Raises:
        InvalidInputError: when the configuration cannot be resolved.
    """
    own = flag_values.get_key_flags_for_module(module_name)
    values = {}
    header = "Flags:"
    if "preset" in flag_values and any(f.name == "preset" for f in own):
        name, config = resolve_config(flag_values)
        values = config.to_flags()
        header = f"Flags, with their values under --preset={name} and the flags given:"
    groups = {section: [] for section in _SECTIONS}
    groups[program] = []
    for flag in own:
        section = _FIELDS[flag.name][0][0] if flag.name in values else program
        groups[section].append(flag)
    groups["runtime"] += [flag_values["tf_log_level"], flag_values["verbosity"]]
    lines = [textwrap.dedent(doc or "").strip(), "", header]
    for title, members in groups.items():
        if not members:
            continue
        lines += ["", f"{title}:"]
        for flag in members:
            value = values[flag.name] if flag.name in values else flag.value
            prefix = "[no]" if isinstance(flag, flags.BooleanFlag) else ""
            lines.append(f"  --{prefix}{flag.name}={_format_value(value)}")
            lines += textwrap.wrap(
                flag.help, 80, initial_indent=" " * 6, subsequent_indent=" " * 6
            )
    lines += ["", "--helpfull lists every flag, absl's own included."]
    return "\n".join(lines)


def _parse(program, module_name, doc, argv):
    """Parses `argv` as absl does, with this project's `--help` and errors."""
    wants_help = any(arg in _HELP_ARGS for arg in argv[1:])
    try:
        remaining = flags.FLAGS([arg for arg in argv if arg not in _HELP_ARGS])
    except flags.Error as error:
        # Help is wanted most when the flags are wrong, e.g. a required one
        # is missing; the values that did parse are shown.
        if not wants_help:
            reason = " ".join(str(error).split()).rstrip(".")
            sys.exit(f"{program}: error: {reason}. Pass --help to list the flags.")
        remaining = []
    if flags.FLAGS["tf_log_level"].value is not None:
        _quiet.quiet_python_logging(int(flags.FLAGS["tf_log_level"].value))
    if wants_help:
        try:
            print(help_text(program, module_name, doc))
        except InvalidInputError as error:
            sys.exit(f"{program}: error: {error}")
        sys.exit(0)
    return remaining


def run(main, program):
    """Runs `main` under `absl.app` as command `program`.

    Args:
        main: The entry point's `main(argv)`.
        program: The console script's name, used in messages and `--help`.
    """
    module = main.__module__
    # absl registers the flags of a module run as `python -m` under argv[0].
    module_name = sys.argv[0] if module == "__main__" else module
    doc = sys.modules[module].__doc__
    app.run(main, flags_parser=functools.partial(_parse, program, module_name, doc))
