"""Command-line flags for `ExperimentConfig`, derived from the config itself.

Every field of every config section is a flag of the same name (`--epochs`,
`--common_units=1024,512`, `--nojit_compile`, ...), typed by the field's type
and documented by its `Attributes:` entry, so the flags cannot drift from the
config. A flag left unset keeps the value of `--preset`.
"""

import dataclasses
import re
import typing

from absl import flags

from cmgan_tf.config import PRESETS, ExperimentConfig, preset
from cmgan_tf.errors import InvalidInputError

_SECTIONS = {f.name: f.type for f in dataclasses.fields(ExperimentConfig)}


def _attribute_docs(section_type):
    """Returns `{field: description}` parsed from a dataclass `Attributes:` block."""
    docs, current = {}, None
    block = (section_type.__doc__ or "").split("Attributes:", 1)[-1]
    for line in block.splitlines():
        match = re.match(r"^ {8}(\w+): (.*)$", line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and line.startswith(" " * 12):
            docs[current] += " " + line.strip()
    return docs


def define_config_flags(flag_values=flags.FLAGS):
    """Defines `--preset` and one flag per `ExperimentConfig` field.

    Args:
        flag_values: The `absl.flags.FlagValues` to define them on.
    """
    flags.DEFINE_enum(
        "preset",
        "reference",
        list(PRESETS),
        "Named configuration the other flags override.",
        flag_values=flag_values,
    )
    for section_type in _SECTIONS.values():
        docs = _attribute_docs(section_type)
        hints = typing.get_type_hints(section_type)
        for field in dataclasses.fields(section_type):
            hint, help_text = hints[field.name], docs.get(field.name, field.name)
            if typing.get_origin(hint) is tuple:
                define = flags.DEFINE_list
                help_text += " Comma-separated integers; '' for none."
            elif hint is bool:
                define = flags.DEFINE_bool
            elif hint is int:
                define = flags.DEFINE_integer
            elif hint is float:
                define = flags.DEFINE_float
            else:
                define = flags.DEFINE_string
            define(field.name, None, help_text, flag_values=flag_values)


def _parse_units(name, values):
    try:
        return tuple(int(v) for v in values if v.strip())
    except ValueError:
        raise InvalidInputError(
            f"--{name} must be comma-separated integers. Received: {','.join(values)}"
        ) from None


def config_from_flags(flag_values=flags.FLAGS):
    """Returns the `ExperimentConfig` of `--preset` with the set flags applied.

    Args:
        flag_values: Parsed `absl.flags.FlagValues` holding the flags of
            `define_config_flags`.

    Raises:
        InvalidInputError: when a value is invalid.
    """
    overrides = {}
    for section, section_type in _SECTIONS.items():
        hints = typing.get_type_hints(section_type)
        for field in dataclasses.fields(section_type):
            value = flag_values[field.name].value
            if value is None:
                continue
            if typing.get_origin(hints[field.name]) is tuple:
                value = _parse_units(field.name, value)
            overrides.setdefault(section, {})[field.name] = value
    return preset(flag_values["preset"].value).replace(**overrides)
