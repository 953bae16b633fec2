"""Generator and discriminator networks of CM-GANs."""
