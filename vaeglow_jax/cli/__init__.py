"""The commands: `vaeglow-train`, `vaeglow-evaluate`, `vaeglow-sample`, `vaeglow-verify` and
`vaeglow-features` (the console scripts), each module's `run()`; `python -m experiments.train`
and the others in a clone call the same. `common` is their shared plumbing (one-line errors,
configs by name, --help). Importing any of them defines its absl flags and nothing else."""
