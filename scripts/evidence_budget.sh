#!/usr/bin/env bash
# Issue 29: what each change does at the CPU study budget (configs/study/cpu.yaml: 12 epochs of 128-px crops of
# `make photos`, 3 seeds, each best checkpoint evaluated on the 54 held-out photos). Studies, in order of priority
# (each resumes where it stopped):
#   study-cpu-resnet  resnet in every space, no hints: the baseline of every comparison below
#   h-resnet, h-cnn   model.hints=local (dense hint field + blend), h-resnet-spaces in oklab and ycbcr; base-cnn: cnn
#                     without hints; h-cnn-p25: hint_p=0.25; h-cnn-noblend: the cnn's hint path without its output blend;
#                     h-cnn-nofield: without the field's decoder injection (hints at the input and the blend only)
#   fusion-resnet     model.fusion=true
#   classify-warm     classify on the resnet body, warm-started from the baseline run of the same seed
#   classify-temps    classify-warm's best checkpoints decoded at other temperatures (copies with model.temperature set)
#   classify-head     classify-warm with its bin logits also started from the baseline run's chroma head (head_from_ckpt);
#                     classify-head-flat: the same without class rebalancing (uniform_mix=1)
#   gan-nogan, gan-scratch   the GAN on the resnet generator, with and without that warm start
# Then one verdict per question, over a folder that links the two arms' runs (paired by seed and photo):
# scripts/evaluations_verdict.py (compare's verdict and hint gains from the runs' evaluations; `make compare` on the same
# folder adds the figures and sheets, in minutes).
# Usage: scripts/evidence_budget.sh [STUDY ...]   (no STUDY: all of them, then the compares)
set -euo pipefail
cd "$(dirname "$0")/.."
export WANDB_MODE=offline
py=.venv/bin/python
[ -d data/photos/train ] || make photos
data="data=folder data.root=data/photos/train data.val_root=data/photos/val"
study() { $py -m colorize.study --preset cpu --name "$@" $data; }  # each call ends its options with --
best() { ls runs/study-cpu-resnet/resnet-lab-seed"$1"/checkpoints/best*.ckpt; }
# A study evaluates each run's best checkpoint (by validation DeltaE2000), which for a GAN (and a classify started from
# a regression run) is its first epoch: its last.ckpt, evaluated in a folder of links to the run (<study>-last), is
# what the training made.
last() {
  for run in runs/"$1"/*-seed*; do
    local shadow=runs/$1-last/$(basename "$run")
    mkdir -p "$shadow/checkpoints"
    for f in config.yaml finished.json metrics.csv checkpoints/last.ckpt; do ln -sfn "$(realpath "$run/$f")" "$shadow/$f"; done
    [ -f "$shadow/evaluation/last-heldout/metrics.json" ] ||
      $py -m colorize.evaluate "$shadow/checkpoints/last.ckpt" --no-fid --out "$shadow/evaluation/last-heldout"
  done
}
# A copy of each classify-warm run whose checkpoint decodes at temperature $1 (runs/classify-T$1), evaluated.
temperature() {
  for run in runs/classify-warm/classify-*; do
    local copy=runs/classify-T$1/$(basename "$run") best target
    best=$(ls "$run"/checkpoints/best*.ckpt); target=$copy/checkpoints/$(basename "$best")
    mkdir -p "$copy/checkpoints"
    sed "s/^  temperature: .*/  temperature: $1/" "$run/config.yaml" > "$copy/config.yaml"
    cp "$run/metrics.csv" "$run/finished.json" "$copy/"
    [ -f "$target" ] || $py - "$best" "$target" "$1" <<'PY'
import sys, torch
checkpoint = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
checkpoint["hyper_parameters"]["model"]["temperature"] = float(sys.argv[3])
torch.save(checkpoint, sys.argv[2])
PY
    ls "$copy"/evaluation/*/metrics.json >/dev/null 2>&1 || $py -m colorize.evaluate "$target" --no-fid
  done
}
run_study() {
  case $1 in
    study-cpu-resnet) study study-cpu-resnet --models resnet --spaces lab luv oklab ycbcr -- ;;
    h-resnet) study h-resnet --models resnet --spaces lab luv -- model.hints=local ;;
    h-resnet-spaces) study h-resnet-spaces --models resnet --spaces oklab ycbcr -- model.hints=local ;;
    fusion-resnet) study fusion-resnet --models resnet --spaces lab -- model.fusion=true ;;
    classify-warm) for s in 0 1 2; do study classify-warm --models classify --spaces lab --seeds $s -- model.body=resnet model.body_ckpt="$(best $s)"; done ;;
    classify-temps) for t in 0.1 0.2 0.6 1.0; do temperature $t; done ;;
    classify-head) for s in 0 1 2; do study classify-head --models classify --spaces lab --seeds $s -- model.body=resnet model.body_ckpt="$(best $s)" model.head_from_ckpt=true; done; last classify-head ;;
    classify-head-flat) for s in 0 1 2; do study classify-head-flat --models classify --spaces lab --seeds $s -- model.body=resnet model.body_ckpt="$(best $s)" model.head_from_ckpt=true model.uniform_mix=1; done; last classify-head-flat ;;
    h-cnn) study h-cnn --models cnn --spaces lab luv oklab ycbcr -- model.hints=local ;;
    base-cnn) study base-cnn --models cnn --spaces lab luv oklab ycbcr -- ;;
    h-cnn-p25) study h-cnn-p25 --models cnn --spaces lab -- model.hints=local model.hint_p=0.25 ;;
    h-cnn-noblend) study h-cnn-noblend --models cnn --spaces oklab -- model.hints=local model.hint_blend=false ;;
    h-cnn-nofield) study h-cnn-nofield --models cnn --spaces oklab -- model.hints=local model.hint_field=false ;;
    gan-nogan) for s in 0 1 2; do study gan-nogan --models gan --spaces lab --seeds $s -- model.body=resnet model.generator_ckpt="$(best $s)"; done; last gan-nogan ;;
    gan-scratch) study gan-scratch --models gan --spaces lab -- model.body=resnet; last gan-scratch ;;
    *) echo "unknown study $1" >&2; exit 2 ;;
  esac
}
studies=("$@"); [ ${#studies[@]} -gt 0 ] || studies=(study-cpu-resnet h-resnet h-resnet-spaces fusion-resnet classify-warm classify-temps classify-head classify-head-flat h-cnn base-cnn h-cnn-p25 h-cnn-noblend h-cnn-nofield gan-nogan gan-scratch)
for s in "${studies[@]}"; do run_study "$s"; done
[ $# -eq 0 ] || exit 0

# compare NAME ARM:STUDY[:SUFFIX] ...: a folder of links to each arm's runs (SUFFIX keeps two arms' run names apart).
compare() {
  local name=$1; shift; local dir=runs/budget/$name; rm -rf "$dir"; mkdir -p "$dir"
  for arm in "$@"; do
    IFS=: read -r study pattern suffix <<< "$arm"
    for run in runs/"$study"/$pattern; do [ -f "$run/finished.json" ] && ln -s "$(realpath "$run")" "$dir/$(basename "$run")$suffix"; done
  done
  $py scripts/evaluations_verdict.py "$dir" > "runs/budget/$name-verdict.md"
}
compare hints-resnet "study-cpu-resnet:resnet-*" "h-resnet:resnet-*:-hints" "h-resnet-spaces:resnet-*:-hints"
compare hints-cnn "base-cnn:cnn-*" "h-cnn:cnn-*:-hints"
compare hint-p-cnn "base-cnn:cnn-lab-*" "h-cnn:cnn-lab-*:-hints" "h-cnn-p25:cnn-lab-*:-p25"
compare hint-blend-cnn "base-cnn:cnn-oklab-*" "h-cnn:cnn-oklab-*:-hints" "h-cnn-noblend:cnn-oklab-*:-noblend"
compare hint-field-cnn "base-cnn:cnn-oklab-*" "h-cnn:cnn-oklab-*:-hints" "h-cnn-nofield:cnn-oklab-*:-nofield"
compare fusion "study-cpu-resnet:resnet-lab-*" "fusion-resnet:resnet-lab-*:-fusion"
compare classify "study-cpu-resnet:resnet-lab-*" "classify-warm:classify-lab-*"
compare classify-head "study-cpu-resnet:resnet-lab-*" "classify-warm:classify-lab-*" "classify-head:classify-lab-*:-head"
compare classify-head-last "study-cpu-resnet:resnet-lab-*" "classify-warm:classify-lab-*" "classify-head-last:classify-lab-*:-head"
compare classify-flat "study-cpu-resnet:resnet-lab-*" "classify-head:classify-lab-*:-head" "classify-head-flat:classify-lab-*:-flat"
compare classify-flat-last "study-cpu-resnet:resnet-lab-*" "classify-head-last:classify-lab-*:-head" "classify-head-flat-last:classify-lab-*:-flat"
compare classify-temps "classify-warm:classify-lab-*" "classify-T0.1:classify-lab-*:-T0.1" "classify-T0.2:classify-lab-*:-T0.2" \
  "classify-T0.6:classify-lab-*:-T0.6" "classify-T1.0:classify-lab-*:-T1.0"
compare gan-best "study-cpu-resnet:resnet-lab-*" "gan-nogan:gan-lab-*:-nogan" "gan-scratch:gan-lab-*"
compare gan-last "study-cpu-resnet:resnet-lab-*" "gan-nogan-last:gan-lab-*:-nogan" "gan-scratch-last:gan-lab-*"
# The resnet and the cnn, both trained with hints, against each other along the hint curve (A = resnet).
$py scripts/hint_curve_pairs.py runs/budget/hints-resnet runs/budget/hints-cnn > runs/budget/hints-resnet-vs-cnn.md
$py scripts/hint_curve_pairs.py runs/h-cnn-nofield runs/h-cnn 0 10 100 > runs/budget/hint-field-cnn-curve-pairs.md
for name in classify classify-head classify-head-last classify-flat classify-flat-last classify-temps gan-best gan-last; do $py scripts/against_grey.py runs/budget/$name > runs/budget/$name-against-grey.md; done
