#!/usr/bin/env bash
# Rebuilds the bundled checkpoints from the offline mnist-5k set (seeded, so the result repeats).
# Run from the repository root: bash checkpoints/rebuild.sh
set -euo pipefail
python -m vae train --dataset mnist-5k --model conv-2d --epochs 30 --seed 0 --out checkpoints/mnist5k-conv-2d.pt
python -m vae train --dataset mnist-5k --model classic-mlp --latent-dim 2 --epochs 50 --seed 0 --out checkpoints/mnist5k-mlp-2d.pt
python -m vae train --dataset mnist-5k --model classic-mlp --latent-dim 16 --epochs 50 --seed 0 --out checkpoints/mnist5k-mlp-16d.pt
