#!/usr/bin/env bash
# Trains the set for the Compare page's "Several models at once": the classic MLP on the offline mnist-5k
# digits at latent sizes 2, 5, 10, 20 and 40 (seeded, so the result repeats). Not bundled: five more files.
# Run from the repository root:
#   bash benchmarks/latent_sizes.sh [EPOCHS] [FOLDER]     (defaults: 30 epochs, checkpoints/)
# Each model is checkpoints/mnist5k-sizes-z<N>.pt beside its map's codes; the Compare page lists them.
set -euo pipefail
epochs=${1:-30}
folder=${2:-checkpoints}
for size in 2 5 10 20 40; do
  python -m vae train --dataset mnist-5k --model classic-mlp --latent-dim "$size" --epochs "$epochs" --seed 0 \
    --out "$folder/mnist5k-sizes-z$size.pt"
done
