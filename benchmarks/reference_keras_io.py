"""Plain reference implementations, written the way the keras.io examples write them, for the throughput
benchmark: the DCGAN of `dcgan_overriding_train_step.py`, the WGAN-GP of `wgan_gp.py`, the VAE of `vae.py` and the
training step and sampling loop of `ddim.py` (Keras 3 versions), on the same networks kzoo uses so that only the
training machinery differs.

As in those examples: default `compile()` (so Keras' "auto" XLA setting), float32, noise from a `SeedGenerator`
inside `train_step`, and data fed the way each example feeds it (a shuffled, batched `tf.data` pipeline of
float32 images for the DCGAN; NumPy arrays to `fit` for the WGAN-GP and the VAE).
"""

import keras
import tensorflow as tf
from keras import ops


class KerasIoGAN(keras.Model):
    """keras.io DCGAN: one discriminator step on real + fake together (noisy labels), one generator step."""

    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn
        self.d_loss_metric = keras.metrics.Mean(name="d_loss")
        self.g_loss_metric = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.d_loss_metric, self.g_loss_metric]

    def train_step(self, real_images):
        batch_size = ops.shape(real_images)[0]
        random_latent_vectors = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        generated_images = self.generator(random_latent_vectors)
        combined_images = ops.concatenate([generated_images, real_images], axis=0)
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * tf.random.uniform(tf.shape(labels))
        with tf.GradientTape() as tape:
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

        random_latent_vectors = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        misleading_labels = ops.zeros((batch_size, 1))
        with tf.GradientTape() as tape:
            predictions = self.discriminator(self.generator(random_latent_vectors))
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.d_loss_metric.update_state(d_loss)
        self.g_loss_metric.update_state(g_loss)
        return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}


class KerasIoWGANGP(keras.Model):
    """keras.io WGAN-GP: `d_steps` critic updates on the step's real batch, then one generator update."""

    def __init__(self, discriminator, generator, latent_dim, discriminator_extra_steps=5, gp_weight=10.0):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.d_steps, self.gp_weight = discriminator_extra_steps, gp_weight

    def compile(self, d_optimizer, g_optimizer, d_loss_fn, g_loss_fn):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.d_loss_fn, self.g_loss_fn = d_loss_fn, g_loss_fn

    def gradient_penalty(self, batch_size, real_images, fake_images):
        alpha = tf.random.uniform([batch_size, 1, 1, 1], 0.0, 1.0)
        interpolated = real_images + alpha * (fake_images - real_images)
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = self.discriminator(interpolated, training=True)
        grads = gp_tape.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
        return tf.reduce_mean((norm - 1.0) ** 2)

    def train_step(self, real_images):
        if isinstance(real_images, tuple):
            real_images = real_images[0]
        batch_size = tf.shape(real_images)[0]
        for _ in range(self.d_steps):
            random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
            with tf.GradientTape() as tape:
                fake_images = self.generator(random_latent_vectors, training=True)
                fake_logits = self.discriminator(fake_images, training=True)
                real_logits = self.discriminator(real_images, training=True)
                d_cost = self.d_loss_fn(real_img=real_logits, fake_img=fake_logits)
                gp = self.gradient_penalty(batch_size, real_images, fake_images)
                d_loss = d_cost + gp * self.gp_weight
            d_gradient = tape.gradient(d_loss, self.discriminator.trainable_variables)
            self.d_optimizer.apply_gradients(zip(d_gradient, self.discriminator.trainable_variables))
        random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
        with tf.GradientTape() as tape:
            generated_images = self.generator(random_latent_vectors, training=True)
            gen_img_logits = self.discriminator(generated_images, training=True)
            g_loss = self.g_loss_fn(gen_img_logits)
        gen_gradient = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(gen_gradient, self.generator.trainable_variables))
        return {"d_loss": d_loss, "g_loss": g_loss}


def discriminator_loss(real_img, fake_img):
    return tf.reduce_mean(fake_img) - tf.reduce_mean(real_img)


def generator_loss(fake_img):
    return -tf.reduce_mean(fake_img)


class Sampling(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class KerasIoVAE(keras.Model):
    """keras.io VAE: reconstruction = summed binary cross-entropy of sigmoid outputs, plus the KL term."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.sampling = Sampling()
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(data)
            z = self.sampling([z_mean, z_log_var])
            reconstruction = ops.sigmoid(self.decoder(z))
            reconstruction_loss = ops.mean(ops.sum(keras.losses.binary_crossentropy(data, reconstruction),
                                                   axis=(1, 2)))
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}


class KerasIoDiffusion(keras.Model):
    """keras.io `ddim.py`'s training step: noise and diffusion times drawn in `train_step`, the noisy images, the
    network's noise prediction and its loss, then the averaged network updated by a Python loop of `assign`s. The
    schedule and loss are kzoo's (discrete timesteps of `alpha_bars`, mean squared error on the noise; keras.io uses
    continuous times and the mean absolute error), so both do the same arithmetic and only the machinery differs."""

    def __init__(self, network, averaged_network, alpha_bars, ema=0.999, **kwargs):
        super().__init__(**kwargs)
        self.network, self.averaged_network, self.ema = network, averaged_network, ema
        self.alpha_bars = tf.constant(alpha_bars, tf.float32)
        self.seed_generator = keras.random.SeedGenerator(0)
        self.noise_loss_tracker = keras.metrics.Mean(name="n_loss")

    @property
    def metrics(self):
        return [self.noise_loss_tracker]

    def train_step(self, images):
        batch = ops.shape(images)[0]
        noises = keras.random.normal(ops.shape(images), seed=self.seed_generator)
        timesteps = keras.random.randint((batch,), 0, len(self.alpha_bars), seed=self.seed_generator)
        alpha_bar = ops.reshape(ops.take(self.alpha_bars, timesteps), (-1, 1, 1, 1))
        noisy_images = ops.sqrt(alpha_bar) * images + ops.sqrt(1.0 - alpha_bar) * noises
        with tf.GradientTape() as tape:
            pred_noises = self.network([noisy_images, ops.cast(timesteps, "float32")], training=True)
            noise_loss = ops.mean(ops.square(noises - pred_noises))
        gradients = tape.gradient(noise_loss, self.network.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.network.trainable_weights))
        self.noise_loss_tracker.update_state(noise_loss)
        for weight, ema_weight in zip(self.network.weights, self.averaged_network.weights):
            ema_weight.assign(self.ema * ema_weight + (1 - self.ema) * weight)
        return {m.name: m.result() for m in self.metrics}


def keras_io_ddim_sample(network, alpha_bars, initial_noise, steps, pixel_range=(-1.0, 1.0), prediction="epsilon"):
    """The sampling loop of keras.io's `ddim.py` (`reverse_diffusion`): a Python loop with one eager network call
    per step. The arithmetic is kzoo's (its timesteps, noise or v prediction, x_0 clipped, eta = 0), so both give
    the same images and only the loop differs."""
    timesteps = len(alpha_bars)
    times = [(i + 1) * timesteps // steps - 1 for i in range(steps)]
    x = tf.convert_to_tensor(initial_noise, tf.float32)
    for i in reversed(range(steps)):
        a = float(alpha_bars[times[i]])
        a_prev = float(alpha_bars[times[i - 1]]) if i > 0 else 1.0
        output = network([x, tf.fill([tf.shape(x)[0]], float(times[i]))], training=False)
        if prediction == "epsilon":
            eps = output
            x0 = tf.clip_by_value((x - (1 - a) ** 0.5 * eps) / a ** 0.5, *pixel_range)
        else:  # v = sqrt(a) eps - sqrt(1 - a) x0
            eps = (1 - a) ** 0.5 * x + a ** 0.5 * output
            x0 = tf.clip_by_value(a ** 0.5 * x - (1 - a) ** 0.5 * output, *pixel_range)
        x = a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps
    return x
