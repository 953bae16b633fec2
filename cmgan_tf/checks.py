"""Checks of user-supplied arguments, shared by configs, layers, loaders and exports.

Each check raises `InvalidInputError` with the house message, naming the
argument and the value received, e.g. "`top_k` must be a positive integer.
Received: top_k=0", and returns the value in its canonical type.

Example:
>>> check_positive_int("top_k", 10)
10
>>> check_positive_int("top_k", 0)
Traceback (most recent call last):
    ...
cmgan_tf.errors.InvalidInputError: `top_k` must be a positive integer. Received: top_k=0
"""

import numbers

from cmgan_tf.errors import InvalidInputError


def require(condition, message):
    """Raises `InvalidInputError(message)` unless `condition` holds."""
    if not condition:
        raise InvalidInputError(message)


def is_positive_int(value):
    """Whether `value` is an integer >= 1 (Python or NumPy, never a bool)."""
    # bool is an int subclass, but `units=True` is a mistake, not one unit.
    return (
        not isinstance(value, bool)
        and isinstance(value, numbers.Integral)
        and value >= 1
    )


def check_positive_int(name, value):
    """Returns `value` as an `int`, raising unless it is an integer >= 1.

    Args:
        name: The argument's name, as the user wrote it.
        value: Its value.

    Raises:
        InvalidInputError: naming the argument and the value.
    """
    require(
        is_positive_int(value),
        f"`{name}` must be a positive integer. Received: {name}={value!r}",
    )
    return int(value)


def check_count_or_zero(name, value, zero_means):
    """Returns `value` as an `int`, raising unless it is an integer >= 0.

    For settings where 0 turns something off; `zero_means` says what, in the
    message (e.g. "no kernel map").

    Raises:
        InvalidInputError: naming the argument and the value.
    """
    zero = (
        value == 0
        and isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
    )
    require(
        zero or is_positive_int(value),
        f"`{name}` must be an integer >= 0 (0: {zero_means}). "
        f"Received: {name}={value!r}",
    )
    return int(value)


def check_positive_ints(name, values, *, allow_empty=False):
    """Returns `values` as a tuple of `int`s, each >= 1.

    Args:
        name: The argument's name.
        values: A sequence (not a string).
        allow_empty: Accept an empty sequence. Defaults to `False`.

    Raises:
        InvalidInputError: naming the argument and the value.
    """
    require(
        not isinstance(values, str)
        and hasattr(values, "__len__")
        and (allow_empty or len(values) > 0)
        and all(is_positive_int(v) for v in values),
        f"`{name}` must be a {'' if allow_empty else 'non-empty '}sequence of "
        f"positive integers. Received: {name}={values!r}",
    )
    return tuple(int(v) for v in values)


def check_rate(name, value):
    """Returns `value` as a `float`, raising unless it is in [0, 1).

    Raises:
        InvalidInputError: naming the argument and the value.
    """
    require(
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and 0 <= value < 1,
        f"`{name}` must be a float in [0, 1). Received: {name}={value!r}",
    )
    return float(value)


def check_choice(name, value, choices):
    """Returns `value`, raising unless it is one of `choices`.

    Raises:
        InvalidInputError: naming the argument, the choices and the value.
    """
    require(
        value in choices,
        f"`{name}` must be one of {', '.join(choices)}. Received: {name}={value!r}",
    )
    return value


def check_bool(name, value):
    """Returns `value`, raising unless it is `True` or `False`.

    Raises:
        InvalidInputError: naming the argument and the value.
    """
    require(
        isinstance(value, bool),
        f"`{name}` must be true or false. Received: {name}={value!r}",
    )
    return value


def check_non_negative(name, value):
    """Returns `value`, raising unless it is a number >= 0 (not a bool).

    Raises:
        InvalidInputError: naming the argument and the value.
    """
    require(
        isinstance(value, numbers.Real) and not isinstance(value, bool) and value >= 0,
        f"`{name}` must be a non-negative number. Received: {name}={value!r}",
    )
    return value


def check_positive_float(name, value):
    """Returns `value`, raising unless it is a float > 0.

    An `int` is refused, as a float field's JSON or flag value is always
    written with a point.

    Raises:
        InvalidInputError: naming the argument and the value.
    """
    require(
        isinstance(value, float) and value > 0,
        f"`{name}` must be a positive float. Received: {name}={value!r}",
    )
    return value


def check_float_in(name, value, low, high, *, include_high=False):
    """Returns `value`, raising unless it is a float with `low < value < high`.

    Args:
        name: The argument's name.
        value: Its value; an `int` is refused, as a float field's JSON or
            flag value is always written with a point.
        low: Exclusive lower bound.
        high: Upper bound, exclusive unless `include_high`.
        include_high: Accept `value == high`. Defaults to `False`.

    Raises:
        InvalidInputError: naming the argument, the interval and the value.
    """
    inside = value <= high if include_high else value < high
    require(
        isinstance(value, float) and low < value and inside,
        f"`{name}` must be a float in ({low}, {high}{']' if include_high else ')'}. "
        f"Received: {name}={value!r}",
    )
    return value
