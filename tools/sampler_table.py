"""FID and sampling time of one diffusion model under several samplers: results/sampler_table_NAME.json, rendered
on the model's docs page (`make docs`).

    python tools/sampler_table.py diffusion_fashion --dataset fashion_mnist --num-samples 10000 \
        --settings ddim:50,ddim:20,dpmpp_2m:10,dpmpp_2m:15,dpmpp_2m:20

The model is a shipped name, a run folder or a `.keras` file; every setting draws the same starting noise
(`--seed`); times are wall-clock seconds on this machine, so time on an idle one.
"""

import argparse
import pathlib
import shlex
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None, results_dir=REPO / "results"):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="shipped model name, run folder or .keras file")
    parser.add_argument("--name", help="name of the results file (default: the model argument's last part)")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--split", default="test")
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument("--settings", default="ddim:50,ddim:20,dpmpp_2m:10,dpmpp_2m:15,dpmpp_2m:20",
                        help="SAMPLER:STEPS pairs, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=250)
    args = parser.parse_args(argv)
    from kzoo import registry, results
    from kzoo.metrics.samplers import compare_samplers, parse_sampler_settings
    settings = parse_sampler_settings(args.settings)  # before loading anything
    model = registry.load_generator(args.model)
    rows = compare_samplers(model, settings, args.dataset, args.split, args.num_samples, args.seed,
                            batch_size=args.batch_size)
    name = args.name or pathlib.Path(args.model).name.removesuffix(".keras")
    command = "python tools/sampler_table.py " + " ".join(map(shlex.quote, argv if argv is not None else sys.argv[1:]))
    protocol = results.protocol(command=command, model=args.model, weights_sha256=results.weights_sha256(model),
                                dataset=args.dataset, split=args.split, num_real=args.num_samples,
                                num_generated=args.num_samples, seeds=[args.seed], batch_size=args.batch_size,
                                precision=getattr(getattr(model, "dtype_policy", None), "name", "float32"),
                                **results.fid_network_record())
    path = results.write(results_dir, f"sampler_table_{name}", "evaluation", protocol, {"rows": rows})
    for row in rows:
        print(f"{row['sampler']:>9} {row['steps']:>3} steps: FID {row['fid']:.2f}, {row['images_per_s']:.1f} images/s")
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
