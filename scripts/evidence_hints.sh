#!/usr/bin/env bash
# Issue 21, part 5: how each architecture and space takes colour hints. cnn and resnet (U-Net on a pretrained
# EfficientNet-Lite0), each in lab and luv, trained with local hints at equal epochs on `make photos`; each evaluated
# with its hint curve on the held-out photos; then `make compare` (hint_curves.png) and its hint sheet: one held-out photo
# with 0, 1, 5, 20 hints, a row per model and space.
# Usage: scripts/evidence_hints.sh OUT EPOCHS
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?give an output folder}; epochs=${2:?give a number of epochs}
export WANDB_MODE=offline
py=.venv/bin/python
[ -d data/photos/train ] || make photos
data="data=folder data.root=data/photos/train data.val_root=data/photos/val data.crop_size=128 data.prepare_size=160 data.cache_dir=runs/cache-photos160"
declare -A models=([cnn]="model=cnn" [resnet]="model=resnet model.encoder=tf_efficientnet_lite0 model.pretrained=true")
for model in resnet cnn; do
  for space in lab luv; do
    name="$model-$space-hints"; run="$out/$name"
    if [ ! -f "$run/checkpoints/last.ckpt" ]; then
      start=$(date +%s)
      $py -m colorize.train ${models[$model]} space=$space model.hints=local $data trainer.max_epochs="$epochs" seed=0 \
        runs_dir="$out" name="$name" logger.tags="[evidence-hints]"
      echo "$name trained in $(( $(date +%s) - start )) s" | tee -a "$out/times.txt"
    fi
    best=$(ls "$run"/checkpoints/best-*.ckpt | head -1)
    $py -m colorize.evaluate "$best" --no-fid
  done
done
$py -m colorize.compare "$out" --out "$out/report" --hint-sheet "$(ls data/photos/val/*.jpg | head -1)"
