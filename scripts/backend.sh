#!/usr/bin/env bash
# Prints the JAX backend this machine should install: $VAEGLOW_BACKEND if set (cpu, cuda12 or
# tpu), else cuda12 where nvidia-smi lists a GPU, tpu on a TPU VM (/dev/accel* on v2-v4,
# /dev/vfio/<n> on v5 and later), else cpu. (VAEGLOW_DEV_DIR: /dev, for the tests.)
dev=${VAEGLOW_DEV_DIR:-/dev}
if [ -n "${VAEGLOW_BACKEND:-}" ]; then echo "$VAEGLOW_BACKEND"
elif command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then echo cuda12
elif compgen -G "$dev/accel*" >/dev/null || { [ -d "$dev/vfio" ] && ls "$dev/vfio" | grep -qv '^vfio$'; }
then echo tpu
else echo cpu; fi
