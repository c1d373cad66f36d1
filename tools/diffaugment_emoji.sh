#!/usr/bin/env bash
# The emoji DiffAugment comparison of docs/results.md: train dcgan_rgb64 without and with DiffAugment (colour,
# translation, cutout) alternately in chunks of 30 epochs, so that both are at an equal number of generator steps
# whenever they are stopped, and from 150 epochs on evaluate both (all 3,786 images) and record the comparison in
# results/comparison_diffaugment_emoji_<steps>_steps.json. Resumable: run it again after an interruption
# (`nohup bash tools/diffaugment_emoji.sh >> runs/diffaugment_emoji.log 2>&1 &`); kzoo train resumes from the last
# epoch's checkpoint and a recorded comparison is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
K=.venv/bin/kzoo
$K data prepare emoji
for E in 30 60 90 120 150 180 210 240; do
  $K train --preset dcgan_rgb64 --dataset emoji --precision mixed_bfloat16 --epochs $E --out runs/emoji_plain
  $K train --preset dcgan_rgb64 --dataset emoji --precision mixed_bfloat16 --epochs $E \
      --set model.augment=color,translation,cutout --out runs/emoji_diffaug
  S=$((E * 29))  # 3,786 images at batch 128: 29 generator steps an epoch
  if [ "$E" -ge 150 ] && [ ! -f "results/comparison_diffaugment_emoji_${S}_steps.json" ]; then
    for R in emoji_plain emoji_diffaug; do
      $K evaluate --model runs/$R --dataset emoji --split train --metrics fid,prdc,diversity --num-samples 3786
    done
    .venv/bin/python tools/compare_runs.py "diffaugment_emoji_${S}_steps" "DCGAN=runs/emoji_plain" \
      "DCGAN + DiffAugment (color, translation, cutout)=runs/emoji_diffaug" --curves d_real,d_fake
  fi
done
