"""Record a finished `kzoo train` run (with `--fid-samples`) as a result file: results/NAME.json.

    python tools/record_run.py runs/main main_job --command "make run" [--total-s 533]
Reads RUN/summary.json (training time, FID and its counts, precision, epochs, steps, peak memory) and writes the
result with its protocol. `make record-run` does this for the main job after `make run`.
"""

import argparse
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("name")
    parser.add_argument("--command", required=True, help="the command that made the run")
    parser.add_argument("--total-s", type=float, help="wall time of the whole command, set-up included")
    args = parser.parse_args(argv)
    from kzoo import results
    from kzoo.run.folder import RunFolder
    summary = RunFolder(args.run).summary({})
    if "fid" not in summary:
        raise SystemExit(f"{args.run}/summary.json has no FID: train with --fid-samples N first.")
    protocol = results.protocol(
        command=args.command, preset=summary["preset"], dataset=summary["dataset"], split=summary["fid_split"],
        num_real=summary["fid_num_real"], num_generated=summary["fid_num_generated"], seeds=[summary["seed"]],
        precision=summary["precision"], epochs=summary["epochs"], steps=summary["steps"],
        wall_time_s=args.total_s, peak_memory_mib=summary.get("peak_memory_mib"), **results.fid_network_record())
    path = results.write(REPO / "results", args.name, "run", protocol, {
        "fid": summary["fid"], "training_s": summary["wall_time_s"], "fid_s": summary["fid_wall_time_s"],
        "total_s": args.total_s, "final": summary["final"], "parameters": summary["parameters"]})
    print(path.read_text())


if __name__ == "__main__":
    main()
