"""The running process: `environment` (process set-up by entry points: storage settings, CPU
devices, the compilation cache), `distributed` (several processes: start-up, agreement,
barriers, a lost peer), `sharding` (the device mesh), `lock` (one run per phase), `signals`
(stopping at a checkpoint on SIGTERM or Ctrl-C) and `failures` (classifying storage and network
errors; what to undo on an immediate exit)."""
