"""Training: the jitted data-parallel train step and optimizer (`train`), the loop with its
periodic actions and non-finite handling (`loop`), and one trainer for every phase (`trainer`)."""
