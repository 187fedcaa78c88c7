#!/usr/bin/env bash
# Transfer learning on the real photo set (make photos), at equal epochs on a CPU: the runs, their evaluation on the
# held-out photos, and the comparison report behind docs/results/*-pretrained-encoders.md.
#   scripts/evidence_pretrained.sh [RUNS_DIR] [EPOCHS]
set -euo pipefail
runs=${1:-runs/evidence-pretrained}
epochs=${2:-6}
py=${PYTHON:-.venv/bin/python}
mkdir -p "$(dirname "$runs")"
[ -d data/photos/train ] || { echo "no data/photos: run make photos first" >&2; exit 2; }
common=(data=folder data.root=data/photos/train data.val_root=data/photos/val data.prepare_size=144
        data.cache_dir=data/photos-cache data.crop_size=128 data.batch_size=16 trainer.max_epochs="$epochs"
        logger=csv seed=0 runs_dir="$runs")
lite=(model.encoder=tf_efficientnet_lite0)
declare -A runs_args=(
  [cnn]="model=cnn"
  [resnet-lite0-pretrained]="model=resnet ${lite[*]}"
  [resnet-lite0-random]="model=resnet ${lite[*]} model.pretrained=false"
  [classify-cnn]="model=classify"
  [classify-lite0-pretrained]="model=classify model.body=resnet ${lite[*]}"
)
order=(cnn resnet-lite0-pretrained resnet-lite0-random classify-cnn classify-lite0-pretrained)
if [ -n "${PERCEPTUAL:-}" ]; then  # the best of the above, with the perceptual loss: PERCEPTUAL="name: args"
  runs_args[${PERCEPTUAL%%:*}]="${PERCEPTUAL#*: }"
  order=("${PERCEPTUAL%%:*}")
fi
for name in "${order[@]}"; do
  if [ ! -d "$runs/$name" ]; then
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$py" -m colorize.train "${common[@]}" name="$name" ${runs_args[$name]} > "$runs-$name.log" 2>&1
    echo "$name: trained in $(( $(date +%s) - start )) s"
  fi
  ckpt=$(ls "$runs/$name"/checkpoints/best-*.ckpt | tail -1)
  [ -f "$runs/$name/evaluation/photos-val/metrics.json" ] || \
    "$py" -m colorize.evaluate "$ckpt" --data data/photos/val --out "$runs/$name/evaluation/photos-val" --eval-size 256
done
