#!/usr/bin/env bash
# Test ELBO of each preset on mnist-5k (README table). Run from the repository root:
#   bash benchmarks/preset_elbo.sh [EPOCHS]
# Each preset trains with its defaults (batch 128, Adam 1e-3, seed 0), then `python -m vae eval --json`.
set -euo pipefail
epochs=${1:-30}
out=$(mktemp -d)
for preset in classic-mlp tiny-mlp conv-2d; do
  python -m vae train --dataset mnist-5k --model "$preset" --epochs "$epochs" --seed 0 --out "$out/$preset.pt" >/dev/null 2>&1
  python -m vae eval "$out/$preset.pt" --json | python -c "
import json, sys
m = json.load(sys.stdin)
print(f\"$preset epochs=$epochs test_elbo={m['test_elbo']:.2f} nll={m['nll']:.2f} knn={m['knn_accuracy']:.3f} active_units={int(m['active_units'])}\")"
done
rm -rf "$out"
