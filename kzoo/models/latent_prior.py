"""Ex-post latent densities: sample a VAE's latent codes from a density fitted to its training codes.

A VAE's aggregate posterior rarely fills N(0, I): decoding prior samples from the holes between the training
codes gives the blurred, off-class images that dominate its FID. Fitting a Gaussian mixture to the posterior means
of the training images after training and sampling codes from it instead ("ex-post density estimation", Ghosh et
al. 2020, "From variational to deterministic autoencoders"; the same idea as the second stage of Dai & Wipf 2019)
keeps the decoder and changes only where it is asked to decode.

`GaussianMixturePrior` maps standard normal noise to the mixture deterministically, so a model that has one still
has the generator interface of every kzoo model (`generate(z)` with z ~ N(0, I)) and exports as a SavedModel.
"""

import math

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="kzoo")
class GaussianMixturePrior(keras.layers.Layer):
    """A Gaussian mixture over latent codes, as a map from N(0, I) noise of the same size to mixture samples.

    The first noise coordinate is used twice, exactly (inverse-transform sampling with recycling): u = Phi(z_0) is
    uniform, so the component is the k with ``c_{k-1} <= u < c_k`` (c: cumulative mixture weights), and then
    ``v = (u - c_{k-1}) / pi_k`` is again uniform and independent of k, so ``Phi^{-1}(v)`` with z_1.. is a
    standard normal vector e, and the sample is ``mean_k + L_k e`` (L_k: Cholesky factor of covariance k).

    Args:
        components: number of mixture components K.
        latent_dim: size d of the codes.
    The parameters are non-trainable weights (saved with the model); set them with `set_mixture` or `fit`.
    """

    def __init__(self, components, latent_dim, **kwargs):
        # float32 under any mixed-precision policy: the inverse-transform step needs the digits.
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.components = int(components)
        self.latent_dim = int(latent_dim)
        if self.components < 1 or self.latent_dim < 1:
            raise ValueError(f"a mixture needs at least one component and one dimension; got components="
                             f"{components}, latent_dim={latent_dim}.")
        k, d = self.components, self.latent_dim
        self.mixture_weights = self.add_weight(shape=(k,), initializer=keras.initializers.Constant(1.0 / k),
                                               trainable=False, name="mixture_weights", dtype="float32")
        self.means = self.add_weight(shape=(k, d), initializer="zeros", trainable=False, name="means",
                                     dtype="float32")
        self.cholesky = self.add_weight(shape=(k, d, d), initializer=_identities(k, d), trainable=False,
                                        name="cholesky", dtype="float32")
        self.built = True

    def set_mixture(self, weights, means, covariances):
        """Set the mixture from its weights `[K]`, means `[K, d]` and full covariances `[K, d, d]`."""
        weights, means = np.asarray(weights, np.float64), np.asarray(means, np.float64)
        covariances = np.asarray(covariances, np.float64)
        k, d = self.components, self.latent_dim
        if weights.shape != (k,) or means.shape != (k, d) or covariances.shape != (k, d, d):
            raise ValueError(f"a mixture of {k} components over {d} dimensions needs weights [{k}], means "
                             f"[{k}, {d}] and covariances [{k}, {d}, {d}]; got {weights.shape}, {means.shape}, "
                             f"{covariances.shape}.")
        if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise ValueError("mixture weights must be non-negative and sum to 1.")
        self.mixture_weights.assign(weights.astype(np.float32))
        self.means.assign(means.astype(np.float32))
        self.cholesky.assign(np.linalg.cholesky(covariances).astype(np.float32))

    def fit(self, codes, seed=0, max_iter=200):
        """Fit the mixture to codes `[N, d]` by EM (scikit-learn's `GaussianMixture`, full covariances, k-means
        start). Returns the fitted scikit-learn estimator (for its `bic`, `score`, convergence flags)."""
        from sklearn.mixture import GaussianMixture
        codes = np.asarray(codes, np.float64)
        if codes.ndim != 2 or codes.shape[1] != self.latent_dim:
            raise ValueError(f"codes must be [N, {self.latent_dim}]; got shape {codes.shape}.")
        if len(codes) < self.components * (self.latent_dim + 1):
            raise ValueError(f"{len(codes)} codes are too few for {self.components} full-covariance components "
                             f"in {self.latent_dim} dimensions; give at least "
                             f"{self.components * (self.latent_dim + 1)}.")
        mixture = GaussianMixture(self.components, covariance_type="full", random_state=seed, max_iter=max_iter,
                                  reg_covar=1e-6).fit(codes)
        self.set_mixture(mixture.weights_, mixture.means_, mixture.covariances_)
        return mixture

    def call(self, z):
        z = ops.cast(z, "float32")
        # float64 for the inverse-transform step: in float32, Phi(z_0) rounds to 1 beyond z_0 ~ 5.4.
        first = ops.cast(z[:, 0], "float64")
        u = 0.5 * (1.0 + ops.erf(first / math.sqrt(2.0)))
        weights = ops.cast(self.mixture_weights, "float64")
        upper = ops.cumsum(weights)
        # The last bound counts as 1 whatever the rounding of the sum, so every u finds a component.
        component = ops.minimum(ops.sum(ops.cast(u[:, None] >= upper[None, :-1], "int32"), axis=1),
                                self.components - 1)
        lower = ops.take(upper - weights, component)
        v = (u - lower) / ops.maximum(ops.take(weights, component), 1e-300)
        v = ops.clip(v, 1e-15, 1.0 - 1e-15)
        recycled = ops.cast(math.sqrt(2.0) * ops.erfinv(2.0 * v - 1.0), "float32")
        e = ops.concatenate([recycled[:, None], z[:, 1:]], axis=1)
        means = ops.take(self.means, component, axis=0)
        factors = ops.take(self.cholesky, component, axis=0)
        return means + ops.einsum("nij,nj->ni", factors, e)

    def get_config(self):
        config = super().get_config()
        config.update({"components": self.components, "latent_dim": self.latent_dim})
        return config


def _identities(k, d):
    def initializer(shape, dtype=None):
        return ops.cast(ops.tile(ops.eye(d)[None], (k, 1, 1)), dtype or "float32")
    return initializer
