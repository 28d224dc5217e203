"""Evaluation of trained phases, one part per module:

- `evaluator`: `evaluate()`, the orchestration (checks, then the parts below, then metrics.json);
- `loading`: a trained phase's checkpoint and config, and chains (another phase's prior);
- `bounds`: test-split bits/dim (ELBO, IW bound, exact density);
- `sampling`: noise to images (`draw_parts`, `draw`), the one sampling path;
- `scoring`: samples scored in every feature space (scores registered in `metrics.scores`);
- `glow_layer`, `gain_decomposition`: what the Glow layer does to samples and residuals;
- `figures`, `calibration` (FID against perturbed images), `report` (result tables), `stats`
  (tests and multiple-comparison adjustment), `trained_run` (`vaeglow_jax.load`);
- `metrics/`: feature spaces and scores.

Imports nothing from `training`."""
