"""Evaluation: test bounds, samples and their scores (`evaluator`), sample folders (`sampling`),
figures, FID calibration, result tables (`report`, `factorial`) and the feature spaces and
scores in `metrics/`. Imports nothing from `training`."""
