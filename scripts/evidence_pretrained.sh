#!/usr/bin/env bash
# Issue 20, part 5: does an ImageNet-pretrained encoder help? On the photo set of `make photos`, at equal epochs on a
# CPU: cnn; resnet (U-Net on EfficientNet-Lite0) pretrained and from random weights; classify on cnn and on the
# pretrained Lite0 body; each evaluated on the held-out photos with LPIPS and FID; then `make compare`.
# Usage: scripts/evidence_pretrained.sh OUT EPOCHS [NAME ...]   (no NAME: every run)
# Extra runs: PERCEPTUAL="name: overrides" adds one, e.g. PERCEPTUAL="resnet-lite0-pretrained-perceptual: model=resnet ..."
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?give an output folder}; epochs=${2:?give a number of epochs}; shift 2
export WANDB_MODE=offline
py=.venv/bin/python
lite0="model.encoder=tf_efficientnet_lite0"
declare -A runs=(
  [cnn]="model=cnn"
  [resnet-lite0-pretrained]="model=resnet $lite0 model.pretrained=true"
  [resnet-lite0-random]="model=resnet $lite0 model.pretrained=false"
  [classify-cnn]="model=classify model.body=cnn"
  [classify-lite0-pretrained]="model=classify model.body=resnet $lite0 model.pretrained=true"
)
if [ -n "${PERCEPTUAL:-}" ]; then runs[${PERCEPTUAL%%:*}]=${PERCEPTUAL#*: }; fi
names=("$@"); [ ${#names[@]} -gt 0 ] || names=(cnn resnet-lite0-pretrained resnet-lite0-random classify-cnn classify-lite0-pretrained)
data="data=folder data.root=data/photos/train data.val_root=data/photos/val data.crop_size=128 data.prepare_size=160 data.cache_dir=runs/cache-photos160"
[ -d data/photos/train ] || make photos
for name in "${names[@]}"; do
  [ -n "${runs[$name]:-}" ] || { echo "unknown run $name; known: ${!runs[*]}" >&2; exit 2; }
  run="$out/$name"
  if [ ! -f "$run/checkpoints/last.ckpt" ]; then
    start=$(date +%s)
    $py -m colorize.train ${runs[$name]} space=lab $data trainer.max_epochs="$epochs" seed=0 \
      runs_dir="$out" name="$name" logger.tags="[evidence-pretrained]"
    echo "$name trained in $(( $(date +%s) - start )) s" | tee -a "$out/times.txt"
  fi
  best=$(ls "$run"/checkpoints/best-*.ckpt | head -1)
  $py -m colorize.evaluate "$best" --out "$run/evaluation-val"
done
