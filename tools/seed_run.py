"""Train, evaluate and record one more seed of a headline model's recipe.

    python tools/seed_run.py NAME SEED [--runs runs/seeds] [--dry-run]

Runs the shipped model NAME's recipe (below) with `--seed SEED` into RUNS/NAME_sSEED*, evaluates the final model
with the shipped evaluation's command (from results/model_NAME.json), then adds it to that file's `seed_runs`
(`tools/model_card.py --seeds`). Every step whose folder already holds its result is skipped and `kzoo train`
resumes a part-done run, so the command can be run again after an interruption: run it in the background.
`--dry-run` prints the commands.

Precision is stated in every recipe, since `--precision auto` depends on the machine (the shipped runs' own
precisions are in their results files), and the VAE recipes pass `--no-prior` where `kzoo prior` replaces the
prior anyway.
"""

import argparse
import json
import pathlib
import shlex
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]

# Each step: (the folder it writes, relative to RUNS, with {seed}; its command with {seed}, {runs} and {previous},
# the folder of the step before).
RECIPES = {
    "vae_infogan_gmm_fashion_e40": [
        ("two_stage_fashion_s{seed}",
         "kzoo train --preset vae_two_stage_fashion --dataset fashion_mnist --epochs 12 --precision float32 "
         "--seed {seed} --no-prior --out {out}"),
        ("infogan_fashion_e40_s{seed}",
         "kzoo train --preset vae_two_stage_fashion --dataset fashion_mnist --epochs 40 --precision float32 "
         "--seed {seed} --set optimizer.learning_rate=0.0005 --init-from {previous} --new-optimizer --no-prior "
         "--out {out}"),
        ("infogan_gmm_fashion_e40_s{seed}",
         "kzoo prior --model {previous} --out {out} --components 30 --seed 0"),
    ],
    "vae_conv_gmm_mnist_e40": [
        ("vae_conv_gmm_mnist_e40_s{seed}",
         "kzoo train --preset vae_conv_gmm_mnist --dataset mnist --epochs 40 --precision float32 --seed {seed} "
         "--out {out}"),
    ],
    "cdcgan_fashion": [
        ("cdcgan_fashion_s{seed}",
         "kzoo train --preset cdcgan_fashion --dataset fashion_mnist --epochs 30 --precision float32 --seed {seed} "
         "--out {out}"),
    ],
    "cdcgan_mnist": [
        ("cdcgan_mnist_s{seed}",
         "kzoo train --preset cdcgan_mnist --dataset mnist --epochs 30 --precision mixed_bfloat16 --seed {seed} "
         "--out {out}"),
        ("cdcgan_mnist_e45_s{seed}",
         "kzoo train --preset cdcgan_mnist --dataset mnist --epochs 45 --precision float32 --seed {seed} "
         "--init-from {previous} --out {out}"),
    ],
}


def steps(name, seed, runs="runs/seeds"):
    """The (folder, argv) of each step of NAME's recipe with SEED, then the evaluation's."""
    if name not in RECIPES:
        raise SystemExit(f"seed_run: no recipe for {name!r}; the recipes: {', '.join(sorted(RECIPES))}")
    planned, previous = [], None
    for folder, command in RECIPES[name]:
        out = f"{runs}/{folder.format(seed=seed)}"
        planned.append((out, shlex.split(command.format(seed=seed, out=out, previous=previous))))
        previous = out
    evaluation = json.loads((REPO / "results" / f"model_{name}.json").read_text())["protocol"]["evaluation_command"]
    evaluate = shlex.split(evaluation)
    evaluate[evaluate.index("--model") + 1] = previous
    planned.append((previous, evaluate))
    return planned


def done(folder, argv):
    """Whether a step has finished: its folder holds summary.json (training, prior) or evaluation.json."""
    return (pathlib.Path(folder) / ("evaluation.json" if argv[1] == "evaluate" else "summary.json")).exists()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help=f"one of {', '.join(sorted(RECIPES))}")
    parser.add_argument("seed", type=int)
    parser.add_argument("--runs", default="runs/seeds", help="where the seed's run folders go")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)
    record = json.loads((REPO / "results" / f"model_{args.name}.json").read_text())
    sys.path.insert(0, str(REPO))
    from kzoo.shipping import recorded_runs
    if args.seed in [run["seed"] for run in recorded_runs(record)]:
        raise SystemExit(f"seed_run: seed {args.seed} of {args.name} is already recorded in "
                         f"results/model_{args.name}.json; choose another seed")
    for folder, command in steps(args.name, args.seed, args.runs):
        print(("[done] " if done(folder, command) else "") + shlex.join(command), flush=True)
        if args.dry_run or done(folder, command):
            continue
        subprocess.run([sys.executable, "-m", "kzoo", *command[1:]], check=True, cwd=REPO)
    if not args.dry_run:
        final = steps(args.name, args.seed, args.runs)[-1][0]
        subprocess.run([sys.executable, str(REPO / "tools" / "model_card.py"), "--seeds", args.name, final],
                       check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        print(f"recorded seed {args.seed} in results/model_{args.name}.json; now `python tools/render_docs.py`")


if __name__ == "__main__":
    main()
