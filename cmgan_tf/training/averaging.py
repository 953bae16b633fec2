"""Polyak averaging of the generator's weights, visible to the epoch-end callbacks."""

import contextlib

import keras


class GeneratorWeightAveraging(keras.callbacks.Callback):
    """Gives a `CMGAN`'s generator its moving-average weights between epochs.

    The generator's optimizer keeps an exponential moving average of the
    generator's weights when built with `use_ema=True`. At the end of each
    epoch this callback puts the averages in place, so that the callbacks
    after it (validation, `BestWeights`, checkpoints) score and save the averaged
    generator; at the start of the next epoch it puts the trained weights
    back. After the last epoch the averages stay: the trained model is the
    averaged one.

    Keras' `SwapEMAWeights` does the same for `model.optimizer`; a `CMGAN`
    has one optimizer per player and only the generator's keeps averages, so
    this callback works on `model.g_optimizer` and the generator's variables.
    """

    def __init__(self):
        super().__init__()
        self._trained_values = None

    def _variables(self):
        return self.model.generator.trainable_variables

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.g_optimizer
        # A `LossScaleOptimizer` keeps no averages itself; the Adam it wraps does.
        if not getattr(optimizer, "inner_optimizer", optimizer).use_ema:
            raise ValueError(
                "GeneratorWeightAveraging needs a generator optimizer built with "
                "`use_ema=True`."
            )
        variables = self._variables()
        self._trained_values = [keras.ops.convert_to_numpy(v) for v in variables]
        optimizer.finalize_variable_values(variables)

    def on_epoch_begin(self, epoch, logs=None):
        if self._trained_values is None:
            return
        for variable, value in zip(
            self._variables(), self._trained_values, strict=True
        ):
            variable.assign(value)
        self._trained_values = None

    @contextlib.contextmanager
    def trained_weights(self):
        """Puts the trained weights back in place for the body of a `with`.

        Between an epoch's end and the next one's start the generator holds
        its averages; checkpoints for resuming must hold what training
        continues from.
        """
        if self._trained_values is None:
            yield
            return
        averaged = [keras.ops.convert_to_numpy(v) for v in self._variables()]
        variables = self._variables()
        for variable, value in zip(variables, self._trained_values, strict=True):
            variable.assign(value)
        try:
            yield
        finally:
            for variable, value in zip(variables, averaged, strict=True):
                variable.assign(value)
