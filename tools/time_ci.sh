#!/usr/bin/env bash
# Time the test command the way CI runs it: a fresh clone of this checkout's HEAD (with ../shared beside it when
# there is one), `bash .ci/run`, then record the wall time and pytest's counts in results/ci_time.json.
# The package cache and KZOO_HOME are the machine's (warm), as on CI.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/kzoo"
[ -d "$repo/../shared" ] && ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"
commit="$(git -C "$repo" rev-parse HEAD)"
start=$(date +%s.%N)
(cd "$work/kzoo" && bash .ci/run) 2>&1 | tee "$work/ci.log"
status=${PIPESTATUS[0]}
end=$(date +%s.%N)
"$repo/.venv/bin/python" - "$work/ci.log" "$start" "$end" "$commit" "$status" <<'PY'
import pathlib, re, sys
sys.path.insert(0, ".")
log, start, end, commit, status = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
text = pathlib.Path(log).read_text()
summary = [l for l in text.splitlines() if re.search(r"\d+ (passed|failed)", l)][-1]
counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|deselected|errors?)", summary)}
pytest_s = float(re.search(r"in ([\d.]+)s", summary).group(1))
from kzoo import results
record = results.protocol(command="bash .ci/run (fresh clone, tools/time_ci.sh)")
record["git_commit"] = commit
results.write("results", "ci_time", "benchmark", record, dict(
    counts, passed=counts.get("passed", 0), exit_status=status, pytest_s=pytest_s, wall_s=round(end - start, 1),
    summary_line=summary.strip("= ")))
print(f"recorded: {summary}; {end - start:.0f} s in all")
sys.exit(status)
PY
