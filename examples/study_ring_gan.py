"""Study 4: a GAN on 2-D points (a ring; eight Gaussians on a ring), watched as it trains.

Every N steps the generator's points (from fixed noise) are drawn over the real ones, and their distance from
the data is estimated: KL(real || generated) and Jensen-Shannon on a shared 40 x 40 histogram, and the exact
Wasserstein-1 distance. The same estimates between two independent real samples give the floor that a
perfect generator would reach.

    python examples/study_ring_gan.py                       # runs/ring_gan/report.md (about 5 minutes on 2 cores)
    python examples/study_ring_gan.py --quick --out /tmp/q  # a smoke run
"""

import pathlib

import keras
import numpy as np

import kzoo
from kzoo import callbacks, datasets, studies, visualize
from kzoo.metrics.divergences import sample_divergences, wasserstein1
from kzoo.networks import mlp_critic, mlp_generator

SNAPSHOTS_SHOWN = 8
# The same generator and discriminator networks, trained by the one adversarial loop with two objectives.
VARIANTS = {
    "GAN": dict(loss="non_saturating", lipschitz=None, n_critic=1, optimizer=(1e-3, 0.5, 0.999)),
    "WGAN-GP": dict(loss="wasserstein", lipschitz="gp", n_critic=5, optimizer=(1e-4, 0.5, 0.9)),
}


def extra_arguments(parser):
    parser.add_argument("--datasets", nargs="+", default=["ring", "ring_mog"], choices=datasets.TOY_SETS)
    parser.add_argument("--variants", nargs="+", default=["GAN"], choices=list(VARIANTS),
                        help="objectives to train (default: GAN; WGAN-GP is four times slower per step)")
    parser.add_argument("--steps", type=int, default=5000, help="generator steps (default 5000)")
    parser.add_argument("--every", type=int, default=250, help="measure and snapshot every N steps (default 250)")
    parser.add_argument("--points", type=int, default=5000, help="points per estimate (default 5000)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, help="override both objectives' learning rate")


def train_one(name, variant, args, steps, every, points):
    keras.utils.set_random_seed(args.seed)
    real = datasets.toy_2d(name, points, seed=args.seed + 1)       # held-out points for the estimates
    floor_sample = datasets.toy_2d(name, points, seed=args.seed + 2)
    monitor = callbacks.PointCloudMonitor(real, every_steps=every, num_points=points, seed=args.seed)
    floor = sample_divergences(real, floor_sample, monitor.bins, monitor.value_range, monitor.pseudo_count)
    floor["w1"] = wasserstein1(real[:monitor.w1_points], floor_sample[:monitor.w1_points])

    spec = dict(VARIANTS[variant])
    learning_rate, beta_1, beta_2 = spec.pop("optimizer")
    learning_rate = args.learning_rate or learning_rate
    model = kzoo.AdversarialModel(mlp_generator(8, 2, (128, 128)), mlp_critic(2, (128, 128), name="discriminator"),
                                  seed=args.seed, **spec)
    model.compile(d_optimizer=keras.optimizers.Adam(learning_rate, beta_1, beta_2),
                  g_optimizer=keras.optimizers.Adam(learning_rate, beta_1, beta_2))
    stream, _ = datasets.training_stream(name, args.batch_size * spec["n_critic"], seed=args.seed, num_points=20000)
    history = model.fit(stream, steps_per_epoch=every, epochs=steps // every, callbacks=[monitor], verbose=0)
    return model, monitor, floor, history.history


def main(argv=None):
    args = studies.study_arguments(__doc__.splitlines()[0], "runs/ring_gan", extra_arguments).parse_args(argv)
    steps, every, points = (40, 10, 500) if args.quick else (args.steps, args.every, args.points)
    out = pathlib.Path(args.out)
    report = studies.Report(out, "Study 4: a GAN on 2-D rings", result_name="study_4_ring_gan", args=args,
                            dataset="ring, ring_mog")
    report.text(
        "Generator: MLP 8-128-128-2 (ReLU), z ~ N(0, I_8); discriminator or critic: MLP 2-128-128-1 (LeakyReLU "
        "0.2). Two objectives, the same networks and training loop (`kzoo.AdversarialModel`): **GAN**, the "
        "non-saturating loss, one discriminator step per generator step, Adam(1e-3, beta1 0.5); **WGAN-GP**, the "
        "Wasserstein loss with gradient penalty 10, five critic steps per generator step, Adam(1e-4, 0.5, 0.9). "
        f"Trained here: {', '.join(args.variants)}"
        + (f", learning rate overridden to {args.learning_rate:g}. " if args.learning_rate else ". ") +
        f"Batch {args.batch_size}, {steps} generator steps, seed {args.seed}. Data: `ring` (unit circle, radial "
        "noise 0.05) and `ring_mog` (8 Gaussians of std 0.02 on a circle of radius 2), `kzoo.datasets.toy_2d`.",
        f"Every {every} steps, {points:,} generated points (fixed noise) against {points:,} held-out real points: "
        "KL(real || generated) and JS (nats, at most log 2 = 0.693) on a shared 40 x 40 histogram over the data's "
        "range plus a 25% margin, with 0.5 added to every bin so that KL stays finite when the generator misses a "
        "bin; W1: exact empirical Wasserstein-1 distance (optimal assignment) between the first 1,000 points of each. "
        "The floor is the same estimate between two independent real samples of the same size: what a perfect "
        "generator would score.")
    summary_rows, curve_rows, curves = [], [], {}
    for name in args.datasets:
        for variant in args.variants:
            model, monitor, floor, history = train_one(name, variant, args, steps, every, points)
            values = {key: [d[key] for d in monitor.divergences] for key in ("kl", "js", "w1")}
            for key, title in (("kl", "KL(real || generated)"), ("js", "JS"), ("w1", "W1")):
                panel = curves.setdefault(f"{name}: {title}", {})
                panel[variant] = (monitor.steps, values[key])
                panel["floor (real vs real)"] = ([monitor.steps[0], monitor.steps[-1]], [floor[key]] * 2,
                                                  {"color": "0.4", "linestyle": "--"})
            shown = np.unique(np.linspace(0, len(monitor.steps) - 1, SNAPSHOTS_SHOWN).round().astype(int))
            panels = {f"step {monitor.steps[i]}: JS {values['js'][i]:.3f}, W1 {values['w1'][i]:.3f}":
                      [(monitor.real[:2000], None, "real"), (monitor.snapshots[i][:2000], None, "generated")]
                      for i in shown}
            limits = (min(monitor.value_range[0][0], monitor.value_range[1][0]),
                      max(monitor.value_range[0][1], monitor.value_range[1][1]))
            visualize.scatter_panels(panels, out / f"{name}_{variant}_snapshots.png", ncols=4, limits=limits,
                                     title=f"{variant} on {name}: generated (orange) over real (blue) points")
            report.results[f"{name} {variant}"] = {"steps": monitor.steps, "divergences": monitor.divergences,
                                                   "floor": floor, "history": history}
            kl, js, w1 = values["kl"], values["js"], values["w1"]
            late = slice(len(js) - max(2, len(js) // 4), None)
            summary_rows.append([name, variant, kl[0], kl[-1], floor["kl"], js[0], js[-1],
                                 f"{np.min(js[late]):.3f} - {np.max(js[late]):.3f}", floor["js"], w1[0], w1[-1],
                                 f"{np.min(w1[late]):.3f} - {np.max(w1[late]):.3f}", floor["w1"]])
            curve_rows.append([name, variant, js, w1, floor["js"], floor["w1"]])
            report.results[f"{name} {variant}"]["converged"] = settled(js) and settled(w1)

    visualize.plot_curves(curves, out / "divergences.png", "generator step", ncols=3,
                          logy=tuple(k for k in curves if not k.endswith(": JS")))
    report.section("Divergences over training")
    report.table(["data", "objective", "KL start", "KL end", "KL floor", "JS start", "JS end",
                  "JS, last quarter", "JS floor", "W1 start", "W1 end", "W1, last quarter", "W1 floor"],
                 summary_rows)
    report.figure(out / "divergences.png",
                  "KL, JS and W1 against the generator step; flat lines: the real-vs-real floor")
    report.text(verdict(curve_rows))
    report.section("Generated against real points")
    for name in args.datasets:
        for variant in args.variants:
            report.figure(out / f"{name}_{variant}_snapshots.png", f"{variant} on {name}: snapshots over training")
    report.write()
    return report


def settled(values):
    """A curve has converged when its last quarter varies by at most 20% of how far it came down to there:
    (max - min) of the last quarter <= 0.2 * (first value - mean of the last quarter)."""
    late = values[len(values) - max(2, len(values) // 4):]
    drop = values[0] - float(np.mean(late))
    return drop > 0 and float(np.max(late) - np.min(late)) <= 0.2 * drop


def verdict(rows):
    sentences = []
    for name, variant, js, w1, js_floor, w_floor in rows:
        both = settled(js) and settled(w1)
        sentences.append(
            f"{variant} on `{name}`: JS {js[0]:.3f} -> {js[-1]:.3f} (floor {js_floor:.3f}), W1 {w1[0]:.3f} -> "
            f"{w1[-1]:.3f} (floor {w_floor:.3f}): {'converged' if both else 'not converged'}; the final W1 is "
            f"{w1[-1] / w_floor:.1f}x the real-vs-real floor.")
    return " ".join(sentences) + (
        " Rule: a curve has converged when the (max - min) of its last quarter is at most 20% of its fall from "
        "the first value to the last quarter's mean; both JS and W1 must pass. The floor says how close to the data "
        "the generator came; a continuous generator joins separated modes with thin bridges, which keeps it "
        "above the floor on `ring_mog`.")


if __name__ == "__main__":
    main()
