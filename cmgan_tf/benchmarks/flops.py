"""Matrix-product work of a training step, and the sgemm rate that bounds it.

On a CPU the CM-GAN step is dominated by its dense matrix products; the
element-wise work around them (batch norm, activations, losses, the optimizer)
is small beside them at the paper's sizes. Dividing the step's matmul FLOPs by
the machine's single-precision GEMM rate gives the fastest the step could run,
and the share of that bound a measured step reaches says how much is left.
"""

import time


def _chain_flops(batch, sizes):
    """FLOPs of a forward pass through Dense layers `sizes[0] -> ... -> sizes[-1]`."""
    return sum(2 * batch * a * b for a, b in zip(sizes, sizes[1:], strict=False))


def _first_layer_flops(batch, sizes):
    return 2 * batch * sizes[0] * sizes[1]


def training_step_flops(config, image_dim, text_dim, num_classes, batch_size):
    """Counts the matrix-product FLOPs of one `CMGAN.train_step`.

    A Dense layer from `a` to `b` units on `n` rows costs `2 n a b` FLOPs
    forward, as much again for its weight gradient, and as much again for its
    input gradient. The count follows what `CMGAN` computes on a batch of
    feature pairs, one discriminator update and then `generator_steps`
    generator updates, each a forward pass and the gradients of the updated
    player only:

    - discriminator update: the generator's encoders and common blocks
      forward (its decoders too when an intra-modality game reads the
      reconstructions); the intra-modality discriminators on originals and
      reconstructions (`2 n` rows) and the conditional inter-modality ones on
      own, other and mismatched common representations (`3 n` rows; the
      unconditional one on `2 n`), forward, weight gradients, and input
      gradients except into their first layer (their inputs are constants);
    - generator update: every generator layer that a played loss reads,
      forward, weight gradients, and input gradients except into the first
      encoder layer; the discriminators on `n` rows forward and input
      gradients, but no weight gradients (they are not updated).

    Biases, batch norm, activations, losses and the optimizer are not counted.

    Args:
        config: An `ExperimentConfig` (its model, loss and training sections).
        image_dim: Size of the image features.
        text_dim: Size of the text features.
        num_classes: Number of classes of the semantic classifiers.
        batch_size: Global batch size.

    Returns:
        The FLOPs of one step, an integer.

    Example:
    >>> from cmgan_tf.presets import preset
    >>> flops = training_step_flops(preset("reference"), 4096, 300, 10, 64)
    >>> round(flops / 1e9, 1)  # GFLOP of the paper-size step at batch 64
    31.0
    """
    model, loss = config.model, config.loss
    n = batch_size
    dims = {"image": image_dim, "text": text_dim}
    intra = loss.intra_adversarial_weight > 0
    inter = loss.inter_adversarial_weight > 0
    conditional = model.inter_discriminator == "conditional"
    decoders = intra or loss.reconstruction_weight > 0
    common = model.common_units[-1]

    def encoder(modality):
        return [dims[modality], *model.encoder_units, *model.common_units]

    def decoder(modality):
        return [common, *model.decoder_units, dims[modality]]

    def intra_discriminator(modality):
        return [dims[modality], *model.intra_discriminator_units, 1]

    def inter_discriminator(modality):
        inputs = common + (dims[modality] if conditional else 0)
        return [inputs, *model.inter_discriminator_units, 1]

    def trained(rows, sizes):
        # Forward, weight gradients, input gradients but into the first layer.
        return 3 * _chain_flops(rows, sizes) - _first_layer_flops(rows, sizes)

    inter_modalities = ("image", "text") if conditional else ("image",)
    inter_rows = 3 * n if conditional else 2 * n
    discriminator = 0
    if intra or inter:
        for modality in dims:
            discriminator += _chain_flops(n, encoder(modality))
            if intra:
                discriminator += _chain_flops(n, decoder(modality))
                discriminator += trained(2 * n, intra_discriminator(modality))
        if inter:
            for modality in inter_modalities:
                discriminator += trained(inter_rows, inter_discriminator(modality))

    generator = 0
    for modality in dims:
        generator += trained(n, encoder(modality))
        if decoders:
            generator += 3 * _chain_flops(n, decoder(modality))
        if intra:
            generator += 2 * _chain_flops(n, intra_discriminator(modality))
        if inter and (conditional or modality == "image"):
            rows = n if conditional else 2 * n
            generator += 2 * _chain_flops(rows, inter_discriminator(modality))
    if loss.semantic_weight > 0:
        # Per-modality classifiers, or one shared classifier called on both.
        generator += 2 * 3 * _chain_flops(n, [common, num_classes])
    return discriminator + config.training.generator_steps * generator


def sgemm_flops_per_second(tensorflow, size=2048, repeats=10):
    """Measures TensorFlow's float32 matrix-product rate on a square product.

    Args:
        tensorflow: The `tensorflow` module, imported by the caller once it
            has configured its devices.
        size: Side of the multiplied matrices. Defaults to 2048.
        repeats: Timed products; the median rate is returned.

    Returns:
        FLOPs per second of `size`³ products (`2 size³` FLOPs each).
    """
    a = tensorflow.random.stateless_normal((size, size), seed=(1, 2))
    b = tensorflow.random.stateless_normal((size, size), seed=(3, 4))
    matmul = tensorflow.function(tensorflow.linalg.matmul)
    matmul(a, b).numpy()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        seconds.append(time.perf_counter() - start)
    seconds.sort()
    return 2 * size**3 / seconds[len(seconds) // 2]
