"""The configs by name: one module per dataset, each with get_config(preset) (presets 'default',
'quick', 'smoke', 'tiny'), resolved by --config=NAME[:PRESET] in a clone and after an install.
experiments/configs/NAME.py holds the same get_config, for --config=<that path>:PRESET."""
