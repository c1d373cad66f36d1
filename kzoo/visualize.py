"""PNG figures: image grids, interpolation strips, loss and metric curves, histograms and scatter plots. Each file
is written atomically."""

import io
import math
import pathlib

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
    plt = _pyplot()

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


def spherical_path(z_start, z_end, steps):
    """`steps` points from `z_start` to `z_end` along the great circle (slerp, Shoemake 1985): the path between two
    Gaussian noise vectors that keeps their norm, as a diffusion model's noise needs (a straight line passes
    through low-norm noise the model never saw)."""
    a, b = np.asarray(z_start, np.float64), np.asarray(z_end, np.float64)
    omega = np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1.0, 1.0))
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if omega < 1e-6:
        return linear_path(a, b, steps)
    path = (np.sin((1 - t) * omega) * a[None] + np.sin(t * omega) * b[None]) / np.sin(omega)
    return path.astype(np.float32)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save_figure(fig, path, dpi=100, rect=None):
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.tight_layout(rect=rect)
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _panel_grid(count, ncols, size=(4.0, 3.2)):
    plt = _pyplot()
    ncols = min(ncols or count, count)
    nrows = int(math.ceil(count / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    for ax in axes.ravel()[count:]:
        ax.axis("off")
    return fig, axes.ravel()


def side_by_side(pictures, path, title=None, size=(4.2, 4.6), dpi=110):
    """Pictures (image grids, arrays or PNG files) in one row, each under its caption: `pictures` ``{caption:
    picture}``. Saved as PNG; used to set the sample grids of compared models beside each other."""
    plt = _pyplot()
    fig, axes = _panel_grid(len(pictures), len(pictures), size)
    for ax, (caption, picture) in zip(axes, pictures.items()):
        if isinstance(picture, (str, pathlib.Path)):
            picture = plt.imread(picture)
        picture = np.asarray(picture)
        ax.imshow(picture.squeeze(), cmap="gray", **({"vmin": 0, "vmax": 255} if picture.dtype == np.uint8 else {}))
        ax.set_title(caption, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    _save_figure(fig, path, dpi=dpi, rect=(0, 0, 1, 0.92) if title else None)  # room for the title


def plot_curves(panels, path, xlabel, title=None, ncols=None, logy=()):
    """Line plots, one panel per entry of `panels` ``{panel title: {line label: line}}``, a line being `(x, y)`,
    `(x, y, style)` (`style`: matplotlib keyword arguments, e.g. for a reference line) or a dict with `x`, `y` and
    optionally `low` and `high`, drawn as a shaded range around the line (e.g. the per-step min and max within each
    epoch). Panels named in `logy` use a log scale. Saved as PNG."""
    fig, axes = _panel_grid(len(panels), ncols)
    for ax, (name, lines) in zip(axes, panels.items()):
        if not lines:  # a panel with nothing to draw keeps its place in the grid, blank but for its title
            ax.set_title(name)
            ax.axis("off")
            continue
        for label, line in lines.items():
            if isinstance(line, dict):
                x, y, style = line["x"], line["y"], [line.get("style")] if line.get("style") else []
            else:
                x, y, *style = line
            (drawn,) = ax.plot(x, y, **(style[0] if style else {"marker": "o", "ms": 2.5}), label=label)
            if isinstance(line, dict) and line.get("low") is not None and line.get("high") is not None:
                ax.fill_between(x, line["low"], line["high"], color=drawn.get_color(), alpha=0.2, linewidth=0)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        if name in logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    _save_figure(fig, path)


def plot_histograms(panels, path, xlabel, bins=50, title=None, ncols=None, reference=None):
    """Overlaid density histograms, one panel per entry of `panels` ``{panel title: {label: values}}``;
    `reference` (a callable x -> density of N(0, 1), e.g. the prior's) is drawn over every panel, whose range then
    covers at least [-3, 3]. Saved as PNG."""
    fig, axes = _panel_grid(len(panels), ncols)
    for ax, (name, groups) in zip(axes, panels.items()):
        values = np.concatenate([np.ravel(v) for v in groups.values()])
        low, high = np.percentile(values, [0.5, 99.5])
        if reference is not None:  # show the reference density's bulk too
            low, high = min(low, -3.0), max(high, 3.0)
        edges = np.linspace(low, high if high > low else low + 1, bins + 1)
        for label, v in groups.items():
            ax.hist(np.ravel(v), bins=edges, density=True, alpha=0.5, label=label)
        if reference is not None:
            x = np.linspace(edges[0], edges[-1], 200)
            ax.plot(x, reference(x), "k--", lw=1, label="N(0, 1)")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    _save_figure(fig, path)


def scatter_panels(panels, path, title=None, ncols=None, equal=True, limits=None):
    """Scatter plots, one panel per entry of `panels` ``{panel title: [(points [N, 2], classes or None,
    label), ...]}``: points with integer `classes` are coloured by class (tab10), the others one colour per
    layer. Saved as PNG."""
    plt = _pyplot()
    fig, axes = _panel_grid(len(panels), ncols, size=(3.4, 3.4))
    for ax, (name, layers) in zip(axes, panels.items()):
        for points, classes, label in layers:
            points = np.asarray(points)
            if classes is not None:
                sc = ax.scatter(points[:, 0], points[:, 1], c=classes, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
            else:
                ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.5, label=label)
        if any(classes is not None for _, classes, _ in layers):
            fig.colorbar(sc, ax=ax, ticks=range(10), fraction=0.046)
        elif len(layers) > 1:
            ax.legend(fontsize=7, markerscale=3, loc="upper right")
        if limits is not None:
            ax.set_xlim(*limits)
            ax.set_ylim(*limits)
        if equal:
            ax.set_aspect("equal", adjustable="box")
        ax.set_title(name, fontsize=9)
    del plt
    if title:
        fig.suptitle(title)
    _save_figure(fig, path)


def plot_history(history, path, title=None):
    """One panel per quantity (training and `val_` curves together) against the epoch; saved as PNG."""
    from matplotlib.ticker import MaxNLocator
    plt = _pyplot()

    names = sorted((k for k in history if not k.startswith("val_")), key=lambda k: (k != "loss", k))
    if not names:
        raise ValueError("plot_history needs at least one training quantity in the history.")
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            if key not in history:
                continue
            values = np.asarray(history[key], dtype=float)
            epochs = np.arange(1, len(values) + 1)
            kept = np.isfinite(values)  # quantities measured every N epochs are NaN in between: join their points
            ax.plot(epochs[kept], values[kept], marker="o", ms=3, label=label)
        if f"val_{name}" in history:
            ax.legend()
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    _save_figure(fig, path)


def markdown_table(columns, rows, cell=str) -> str:
    """kzoo's one Markdown table writer: a header of `columns`, then `rows`, each value written by `cell` (the
    caller's formatting: numbers, blanks, escaped bars)."""
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
