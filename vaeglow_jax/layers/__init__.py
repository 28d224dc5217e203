"""Building blocks below the flows and the models: the convolutions (`conv`). Imports nothing
else from the package."""
