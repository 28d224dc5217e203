"""Reading and writing, local or `gs://`: `storage` (object-store clients and credentials),
`files` (files and folders at any path), `workdir` (the work directory's layout),
`checkpoints` (Orbax checkpoints, checked and fingerprinted) and `metric_writer` (clu metric
writers that survive storage outages). The library reads and writes a work directory only
through this package."""
