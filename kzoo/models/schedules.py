"""Noise schedules of diffusion models, as serialisable objects: the forward process
``q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)`` for t = 0 .. T-1.

- `LinearSchedule` (Ho et al. 2020): ``beta_t`` evenly spaced from `beta_start` to `beta_end`,
  ``alpha_bar_t = prod_{s <= t} (1 - beta_s)``.
- `CosineSchedule` (Nichol & Dhariwal 2021, eq. 17): ``alpha_bar_t = f(t + 1) / f(0)`` with
  ``f(t) = cos(((t / T) + s) / (1 + s) * pi / 2) ** 2``, each ``beta_t = 1 - alpha_bar_t / alpha_bar_{t-1}`` clipped
  at `max_beta` (0.999) so the last steps stay finite.

Index t here is 0-based: ``alpha_bar[0]`` is the first noising step (the papers' t = 1). Values are computed in
float64 with numpy and cast once.
"""

import math

import keras
import numpy as np


class NoiseSchedule:
    """A schedule of `timesteps` noise levels; subclasses define `betas()`."""

    name = None

    def __init__(self, timesteps=1000):
        if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 2:
            raise ValueError(f"a noise schedule needs an integer number of timesteps of at least 2, got {timesteps!r}.")
        self.timesteps = int(timesteps)

    def betas(self):
        raise NotImplementedError

    def alpha_bars(self):
        """``alpha_bar_t`` for t = 0 .. T-1 (float64): the signal's share of the variance of x_t."""
        return np.cumprod(1.0 - self.betas())

    def get_config(self):
        return {"timesteps": self.timesteps}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@keras.saving.register_keras_serializable(package="kzoo")
class LinearSchedule(NoiseSchedule):
    """Ho et al. 2020: betas linear from 1e-4 to 0.02 over 1,000 steps."""

    name = "linear"

    def __init__(self, timesteps=1000, beta_start=1e-4, beta_end=0.02):
        super().__init__(timesteps)
        if not 0.0 < beta_start <= beta_end < 1.0:
            raise ValueError(f"a linear schedule needs 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}.")
        self.beta_start, self.beta_end = float(beta_start), float(beta_end)

    def betas(self):
        return np.linspace(self.beta_start, self.beta_end, self.timesteps, dtype=np.float64)

    def get_config(self):
        return dict(super().get_config(), beta_start=self.beta_start, beta_end=self.beta_end)


@keras.saving.register_keras_serializable(package="kzoo")
class CosineSchedule(NoiseSchedule):
    """Nichol & Dhariwal 2021: alpha_bar follows a squared cosine, so noise is added more evenly than linearly."""

    name = "cosine"

    def __init__(self, timesteps=1000, offset=0.008, max_beta=0.999):
        super().__init__(timesteps)
        if not offset >= 0.0 or not 0.0 < max_beta < 1.0:
            raise ValueError(f"a cosine schedule needs offset >= 0 and 0 < max_beta < 1, got {offset}, {max_beta}.")
        self.offset, self.max_beta = float(offset), float(max_beta)

    def f(self, t):
        return np.cos((np.asarray(t, np.float64) / self.timesteps + self.offset) / (1 + self.offset) * math.pi / 2) ** 2

    def betas(self):
        steps = np.arange(self.timesteps + 1, dtype=np.float64)
        alpha_bar = self.f(steps) / self.f(0.0)
        return np.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], self.max_beta)

    def get_config(self):
        return dict(super().get_config(), offset=self.offset, max_beta=self.max_beta)


SCHEDULES = {"linear": LinearSchedule, "cosine": CosineSchedule}


def get(spec, timesteps=None):
    """A schedule from a name (``"linear"``, ``"cosine"``), a config dict ``{"class_name", "config"}`` or itself."""
    if isinstance(spec, NoiseSchedule):
        return spec
    if isinstance(spec, str):
        if spec not in SCHEDULES:
            raise ValueError(f"unknown noise schedule {spec!r}; choose one of {', '.join(SCHEDULES)}.")
        return SCHEDULES[spec](**({} if timesteps is None else {"timesteps": timesteps}))
    if isinstance(spec, dict):
        return keras.saving.deserialize_keras_object(spec)
    raise ValueError(f"a noise schedule is a name ({', '.join(SCHEDULES)}), a config dict or a NoiseSchedule; "
                     f"got {spec!r}.")


def serialize(schedule):
    return keras.saving.serialize_keras_object(schedule)
