#!/usr/bin/env bash
# Rebuilds the bundled checkpoints from the offline mnist-5k and shapes-32 sets (seeded, so the result repeats).
# Run from the repository root: bash checkpoints/rebuild.sh
set -euo pipefail
python -m vae train --dataset mnist-5k --model conv-2d --epochs 30 --seed 0 --out checkpoints/mnist5k-conv-2d.pt
python -m vae train --dataset mnist-5k --model classic-mlp --latent-dim 2 --epochs 50 --seed 0 --out checkpoints/mnist5k-mlp-2d.pt
python -m vae train --dataset mnist-5k --model classic-mlp --latent-dim 16 --epochs 50 --seed 0 --out checkpoints/mnist5k-mlp-16d.pt
# The colour model of the shapes (20,000 drawn on first use, no download), a beta-VAE. One thread: two threads
# on a busy 2-core machine ran 20 times slower here (each waits for the other at every step).
OMP_NUM_THREADS=1 python -m vae train --dataset shapes-32 --model conv-32-rgb --beta 4 --kl-warmup 5 --batch-size 64 --epochs 40 --seed 0 --out checkpoints/shapes32-conv-rgb.pt
