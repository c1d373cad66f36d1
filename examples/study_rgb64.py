"""Study 2: the DCGAN and the MLP VAE on a 64x64 RGB set (by default the emoji set; any folder or TFDS set).

Both models trained with their presets (`dcgan_rgb64`, `vae_mlp_rgb64`), then: reference FID of generated images
against the data (as many as the set has, at most --num-samples), the share of pairs of images with cosine
similarity above 0.9 (generated and real), sample grids and latent interpolations.

    python examples/study_rgb64.py                                  # emoji: runs/rgb64/report.md
    python examples/study_rgb64.py --dataset folder:~/cats          # any image folder (resized to 64x64):
                                                                    # runs/rgb64_folder_cats/report.md
    python examples/study_rgb64.py --dataset tfds:celeb_a           # any TFDS image set (downloads when online)
    python examples/study_rgb64.py --quick --out /tmp/q             # a smoke run
"""

import pathlib
import re

from kzoo import datasets, studies

MODELS = {"DCGAN": "dcgan_rgb64", "MLP VAE": "vae_mlp_rgb64"}


def extra_arguments(parser):
    parser.add_argument("--dataset", default="emoji", help="emoji (default), folder:PATH or tfds:NAME")


def result_name(dataset):
    """`study_2_rgb64` for the emoji set; another set's results go to a file of their own
    (``folder:~/data/cats`` -> `study_2_rgb64_folder_cats`), so they never replace the emoji study's."""
    if dataset == "emoji":
        return "study_2_rgb64"
    kind, _, rest = dataset.partition(":")
    name = pathlib.Path(rest.rstrip("/")).name if kind == "folder" else rest
    return "study_2_rgb64_" + re.sub(r"[^a-z0-9]+", "_", f"{kind}_{name}".lower()).strip("_")


def main(argv=None):
    args = studies.study_arguments(__doc__.splitlines()[0], None, extra_arguments).parse_args(argv)
    # Each data set trains into a folder of its own: a run folder of another set is never resumed.
    args.out = args.out or ("runs/rgb64" if args.dataset == "emoji" else f"runs/{result_name(args.dataset)[8:]}")
    split = "test" if args.dataset in datasets.BUILTIN else "train"
    available = len(datasets.load_arrays(args.dataset, split, image_size=64).images)
    args.num_samples = min(args.num_samples, available)
    report = studies.Report(args.out, f"Study 2: DCGAN and MLP VAE on 64x64 RGB images ({args.dataset})",
                            result_name=result_name(args.dataset), args=args, dataset=args.dataset, split="train")
    report.text(
        "DCGAN: preset `dcgan_rgb64` (ConvT + BN + ReLU generator 4 -> 64 px, mirrored Conv + BN + LeakyReLU "
        "discriminator, Adam(2e-4, 0.5), batch 128, 30 epochs). MLP VAE: preset `vae_mlp_rgb64` (12288-512-512, "
        "LeakyReLU 0.2, latent 16, Adam 1e-4, batch 128, 50 epochs)." + (f" Epochs overridden: {args.epochs}."
                                                                      if args.epochs else ""),
        f"Data: `{args.dataset}`, {available:,} images in its `{split}` split, 64x64 RGB in [-1, 1] (GAN) or [0, 1] "
        f"(VAE). Reference FID: generated images against the first as-many images of that split (at most "
        f"{available:,}, so not comparable with FIDs at 10,000 or 50,000). Near-duplicate pairs: cosine similarity of "
        "flattened images above 0.9, over all pairs; the real images' share is the baseline.")
    studies.compare_models(report, MODELS, args.dataset, args, metrics=("fid", "prdc", "diversity"), split=split,
                           train_dataset=args.dataset)
    report.write()
    return report


if __name__ == "__main__":
    main()
