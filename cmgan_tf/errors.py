"""The one error type raised for invalid user input."""


class InvalidInputError(ValueError):
    """Raised when user-supplied input (a flag, a file, an array) is invalid.

    Every check on user input in `cmgan_tf` raises this type, with a message
    naming the argument, what was expected and what was found, so callers can
    catch one exception and command lines can print one clean line.
    """


class TrainingDivergedError(InvalidInputError):
    """Raised when a loss becomes NaN or Inf during training.

    It is an `InvalidInputError` because its cause is in what the user chose
    (learning rate, loss weights, data scale), and the command lines report it
    the same way: one line naming the loss term and the step.
    """
