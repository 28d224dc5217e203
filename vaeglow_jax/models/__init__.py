"""The models: Linen modules (ResNet VAE, priors, Glow layer, multi-scale Glow, the full model),
the convolutions they use, and the pure per-example losses. Imports nothing else of the package
but `flows`."""
