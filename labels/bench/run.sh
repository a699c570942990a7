#!/usr/bin/env bash
# One command for the labels benchmarks: this crate's GS1 parse and 4x6 shipping label render
# throughput, and the peers measured in the same run (Python biip for GS1, Python zpl for label
# generation). Writes the figures into BENCHMARKS.md between the labels markers.
# Usage: labels/bench/run.sh   (BENCH_SECONDS=3 per measurement by default)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
secs="${BENCH_SECONDS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-labels}"

if [ ! -x "$here/.venv/bin/python" ] || ! "$here/.venv/bin/python" -c "import biip, zpl" 2>/dev/null; then
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/pip" install --quiet biip==5.2.0 zpl==0.1.13
fi

cd "$root"
export LOAD_AT_START="$(cut -d" " -f1 /proc/loadavg)"
ours="$(BENCH_SECONDS="$secs" cargo bench --quiet -p wms-labels --bench throughput 2>/dev/null | tail -1)"
peer="$("$here/.venv/bin/python" "$here/peer.py" "$secs")"

OURS="$ours" PEER="$peer" SECS="$secs" python3 - <<'PY'
import json, os, platform, subprocess, datetime, re
ours = json.loads(os.environ["OURS"]); peer = json.loads(os.environ["PEER"])
cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip(); break
except OSError:
    pass
cores = os.cpu_count()
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
py = platform.python_version()
today = datetime.date.today().isoformat()
g, b = ours["gs1_parses_per_sec"], peer["biip_parses_per_sec"]
m = ours["gs1_mixed_parses_per_sec"]
l, j, p = ours["shipping_labels_per_sec"], ours["shipping_labels_from_json_per_sec"], peer["python_zpl_labels_per_sec"]
def f(n): return f"{n:,.0f}"
section = f"""<!-- labels:begin -->
## labels: GS1 parsing and ZPL rendering

Date {today}; machine: {cpu}, {cores} cores (shared), load average {os.environ['LOAD_AT_START']} at the start, Linux {platform.release()}; {rustc}; Python {py}.
Command: `labels/bench/run.sh` (runs `cargo bench -p wms-labels --bench throughput` and
`labels/bench/peer.py`, {os.environ['SECS']} s per measurement, one thread each).

| what | wms-labels | peer (same run) | ratio | target |
| --- | ---: | ---: | ---: | --- |
| GS1 scan interpretation (AIM id, element string, validation, dates/decimals), scans/s | {f(g)} | Python `biip` 5.2.0 `parse`: {f(b)} | {g/b:,.0f}× | ≥ 1,000,000/s: {'met' if g >= 1e6 else 'NOT met'} |
| same, the floor's mix: those and bare strings, FNC1 placeholders, printed text, Digital Link URIs, scans/s | {f(m)} | | {m/g:.2f}× the AIM-only set | ≥ 1,000,000/s: {'met' if m >= 1e6 else 'NOT met'} |
| 4x6 shipping label to ZPL (typed data, all fields escaped, barcodes encoded), labels/s | {f(l)} | Python `zpl` 0.1.13 building a comparable label: {f(p)} | {l/p:,.1f}× | ≥ 100,000/s: {'met' if l >= 1e5 else 'NOT met'} |
| same, from the JSON data file shape (`cli::render`), labels/s | {f(j)} | | {j/p:,.1f}× | |

The peers do less work per item: `zpl` escapes nothing and encodes no Code 128 subsets; `biip`
is a general interpreter in Python. Ratios say how much headroom the edge box has, not which
library is better.
<!-- labels:end -->"""
path = "BENCHMARKS.md"
text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
pat = re.compile(r"<!-- labels:begin -->.*?<!-- labels:end -->", re.S)
text = pat.sub(lambda _: section, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
print(section)
PY
