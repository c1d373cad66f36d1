"""One diffusion model under several samplers and step counts: FID and sampling time per setting (the sampler
table of a shipped model's card)."""

from __future__ import annotations

import time

import numpy as np

from kzoo.metrics.evaluate import real_statistics, sample_images
from kzoo.metrics.features import get_extractor, run_extractor
from kzoo.metrics.fid import GaussianStatistics, check_sample_size, statistics_distance


def parse_sampler_settings(text):
    """`"ddim:50,dpmpp_2m:10"` -> `[("ddim", 50), ("dpmpp_2m", 10)]` (sampler names are checked by the model)."""
    settings = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        sampler, _, steps = item.partition(":")
        if not sampler or not steps.isdigit() or int(steps) < 1:
            raise ValueError(f"sampler settings are SAMPLER:STEPS separated by commas (such as ddim:50,dpmpp_2m:10); "
                             f"got {item!r}.")
        settings.append((sampler, int(steps)))
    if not settings:
        raise ValueError("no sampler settings given: pass SAMPLER:STEPS pairs such as ddim:50,dpmpp_2m:10.")
    return settings


def compare_samplers(model, settings, dataset="fashion_mnist", split="test", num_samples=10000, seed=0,
                     network="fid_inception", batch_size=250, progress=True):
    """For each `(sampler, steps)`: `num_samples` images from the same starting noise (drawn from `seed`, as
    `kzoo evaluate` draws it), the wall time of generating them (the loop's first call, which compiles it, timed
    apart), and their FID against the first `num_samples` images of `dataset`/`split`. The model's own sampling
    settings are restored afterwards. Returns one row (dict) per setting, in order."""
    if getattr(model, "sampling_steps", None) is None:
        raise ValueError("compare_samplers takes a diffusion model (one with samplers and sampling steps); "
                         f"got a {type(model).__name__}.")
    own = (model.sampler, model.sampling_steps)
    rows = []
    try:
        for sampler, steps in settings:  # the model refuses a setting it cannot sample with before any work
            model.set_sampling(sampler=sampler, steps=steps)
        real, _ = real_statistics(dataset, split, num_samples, network, progress=progress)
        extractor = get_extractor(network)
        for sampler, steps in settings:
            if progress:
                print(f"{sampler}, {steps} steps: generating {num_samples:,} images")
            model.set_sampling(sampler=sampler, steps=steps)
            start = time.perf_counter()
            np.asarray(model.generate(np.zeros((min(batch_size, num_samples), model.latent_dim), np.float32)))
            first_call_s = time.perf_counter() - start
            start = time.perf_counter()
            images = sample_images(model, num_samples, seed=seed, progress=progress, batch_size=batch_size)
            sampling_s = time.perf_counter() - start
            fake = GaussianStatistics()
            run_extractor(extractor, images, num_samples, keep_features=False, statistics=fake, progress=progress)
            check_sample_size(fake.count, fake.mean.shape[0], "generated images")
            rows.append({"sampler": sampler, "steps": steps,
                         # every kzoo sampler evaluates the network once per step and image
                         "network_evaluations_per_image": steps,
                         "fid": statistics_distance(real, fake),
                         "sampling_s": sampling_s, "images_per_s": num_samples / sampling_s,
                         "first_call_s": first_call_s})
    finally:
        model.set_sampling(*own)
    return rows
