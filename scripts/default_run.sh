#!/usr/bin/env bash
# The default `make train` at several seeds (issue 20, part 6): the wall time of each run and its last epoch's
# validation ΔE2000, CF and ΔCF on the held-out cat, one line per seed in OUT/seeds.txt.
# Usage: scripts/default_run.sh OUT [SEEDS] [ARGS]   e.g. scripts/default_run.sh runs/default "0 1 2"
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?give an output folder}; seeds=${2:-0 1 2}; args=${3:-}
export WANDB_MODE=offline
mkdir -p "$out"
for seed in $seeds; do
  start=$(date +%s)
  make --no-print-directory train ARGS="seed=$seed runs_dir=$out name=seed$seed $args" > "$out/seed$seed.log" 2>&1
  took=$(( $(date +%s) - start ))
  .venv/bin/python - "$out/seed$seed/metrics.csv" "$seed" "$took" <<'EOF' | tee -a "$out/seeds.txt"
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r.get("val/delta_e")]
last = rows[-1]
print(f"seed {sys.argv[2]}: {sys.argv[3]} s, epoch {last['epoch']}, ΔE2000 {float(last['val/delta_e']):.2f}, "
      f"CF {float(last['val/cf']):.1f}, ΔCF {float(last['val/delta_cf']):.1f}, val L1 {float(last['val/l1']):.3f}")
EOF
done
