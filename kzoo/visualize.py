"""PNG figures: image grids, interpolation strips and loss curves. Each file is written atomically."""

import io
import math

import numpy as np

from kzoo.config import atomic_write_bytes


def image_grid(images, ncols=None, pad=2, pad_value=255):
    """Tile uint8 images `[N, H, W, C]` into one `[rows*(H+pad)+pad, cols*(W+pad)+pad, C]` picture."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"image_grid takes uint8 images, got {images.dtype}; convert with kzoo.datasets.to_uint8.")
    if images.ndim == 3:
        images = images[..., None]
    n, h, w, c = images.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), pad_value, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = image
    return grid


def save_png(path, picture, scale=1):
    """Save a uint8 `[H, W]`, `[H, W, 1]` or `[H, W, 3]` picture, enlarged `scale` times (nearest)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picture = np.asarray(picture)
    if scale > 1:
        picture = picture.repeat(scale, axis=0).repeat(scale, axis=1)
    if picture.ndim == 3 and picture.shape[-1] == 1:
        picture = picture[..., 0]
    buffer = io.BytesIO()
    plt.imsave(buffer, picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=255, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def save_grid(path, images, ncols=None, scale=2):
    save_png(path, image_grid(images, ncols), scale=scale)


def linear_path(z_start, z_end, steps):
    """`steps` points from `z_start` to `z_end` inclusive, `[steps, D]`."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return (1.0 - t) * np.asarray(z_start, np.float32)[None] + t * np.asarray(z_end, np.float32)[None]


def plot_history(history, path, title=None):
    """One panel per quantity (training and `val_` curves together) against the epoch; saved as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from matplotlib.ticker import MaxNLocator

    names = sorted((k for k in history if not k.startswith("val_")), key=lambda k: (k != "loss", k))
    if not names:
        raise ValueError("plot_history needs at least one training quantity in the history.")
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker="o", ms=3, label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", ms=3, label="validation")
            ax.legend()
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
