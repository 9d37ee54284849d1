"""Benchmark one data month at national scale, stage by stage (not part of the test suite).

    python bench/run.py [--scales 1000 30000 300000] [--month 2020-06] [--format xlsx]

For each scale, a landing area of that many communities is generated once with the sample-data
generator (cached in bench/data/<scale>-<format>/), then measured in fresh processes:

- floor:  reading the month's export once with pandas (read_excel/calamine or read_csv), the
          least any pipeline must spend;
- stages: ingest (read + parse), quality (GX suite + plain checks + warehouse load; includes
          loading the previous month, which a month's run needs for 较上月), figures (SQL +
          ranking/overdue files), documents (HTML + PDF of every document), and the whole.

Each measurement reports wall time and the process's peak resident memory. Results are printed
as a table and written to bench/results/<scale>-<format>.json. Record them in docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "plugins"))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def landing_for(scale: int, fmt: str, month: str) -> Path:
    from supervision.months import Month
    from supervision.sample_data import generate

    folder = DATA / f"{scale}-{fmt}"
    marker = folder / ".complete"
    if not marker.exists():
        t = time.perf_counter()
        generate(folder, communities=scale, last_month=Month.parse(month),
                 export_format=fmt)
        marker.write_text(json.dumps({"seconds": round(time.perf_counter() - t, 1)}))
        print(f"generated {folder} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return folder


# --------------------------------------------------------------------------- child processes

def child_floor(landing: Path, month: str) -> dict:
    import pandas as pd

    from supervision.landing import snapshot_for
    from supervision.months import Month

    snap = snapshot_for(landing, Month.parse(month))
    t = time.perf_counter()
    if snap.path.suffix == ".csv":
        frame = pd.read_csv(snap.path, header=None, dtype=str, encoding="utf-8-sig")
    else:
        frame = pd.read_excel(snap.path, header=None, engine="calamine", dtype=object)
    return {"seconds": time.perf_counter() - t, "peak_rss_mib": peak_rss_mib(),
            "rows": len(frame), "file_mib": snap.path.stat().st_size / 2**20}


def child_stages(landing: Path, month: str, work: Path) -> dict:
    import logging

    logging.basicConfig(level=logging.WARNING)
    os.environ["SUPERVISION_WAREHOUSE_URL"] = f"sqlite:///{work / 'warehouse.db'}"
    from supervision import pipeline
    from supervision.settings import RunSettings

    s = RunSettings.resolve({"report_month": month, "inputs_dir": str(landing),
                             "output_dir": str(work / "output"), "send": False})
    out = {}
    total = time.perf_counter()
    for name, fn in (("ingest", pipeline.ingest), ("quality", pipeline.check_quality),
                     ("figures", pipeline.compute_figures),
                     ("documents", pipeline.render_documents)):
        t = time.perf_counter()
        summary = fn(s)
        out[name] = {"seconds": time.perf_counter() - t, "peak_rss_mib": peak_rss_mib(),
                     "summary": summary}
    out["whole"] = {"seconds": time.perf_counter() - total, "peak_rss_mib": peak_rss_mib()}
    return out


def run_child(kind: str, landing: Path, month: str, work: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, str(landing), month, str(work)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report

def machine() -> dict:
    import pandas

    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(int(mem) / 2**20, 1),
            "python": platform.python_version(), "pandas": pandas.__version__,
            "platform": platform.platform()}


def table(results: list[dict]) -> str:
    head = ("| communities | rows read | floor: pandas read | ingest | quality+load | figures | "
            "documents | whole | peak RSS | peak / floor RSS | whole / floor time |")
    lines = [head, "|" + "---|" * 11]
    for r in results:
        f, s = r["floor"], r["stages"]
        lines.append(
            f"| {r['scale']:,} | {s['ingest']['summary']['rows_read']:,} | {f['seconds']:.1f} s "
            f"({f['peak_rss_mib']:.0f} MiB) | {s['ingest']['seconds']:.1f} s | "
            f"{s['quality']['seconds']:.1f} s | {s['figures']['seconds']:.1f} s | "
            f"{s['documents']['seconds']:.1f} s | **{s['whole']['seconds']:.1f} s** | "
            f"{s['whole']['peak_rss_mib']:.0f} MiB | {s['whole']['peak_rss_mib'] / f['peak_rss_mib']:.1f}× | "
            f"{s['whole']['seconds'] / f['seconds']:.1f}× |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1000, 30000, 300000])
    parser.add_argument("--month", default="2020-06")
    parser.add_argument("--format", choices=("xlsx", "csv"), default="xlsx")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, landing, month, work = args.child
        fn = child_floor if kind == "floor" else child_stages
        result = fn(Path(landing), month) if kind == "floor" else fn(Path(landing), month, Path(work))
        print(json.dumps(result, ensure_ascii=False, default=str))
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    for scale in args.scales:
        landing = landing_for(scale, args.format, args.month)
        work = DATA / f"{scale}-{args.format}-run"
        if work.exists():
            subprocess.run(["rm", "-rf", str(work)], check=True)
        work.mkdir(parents=True)
        floor = run_child("floor", landing, args.month, work)
        stages = run_child("stages", landing, args.month, work)
        result = {"scale": scale, "format": args.format, "month": args.month,
                  "floor": floor, "stages": stages, "machine": machine()}
        (RESULTS / f"{scale}-{args.format}.json").write_text(
            json.dumps(result, ensure_ascii=False, indent=1, default=str))
        results.append(result)
        print(table([result]).splitlines()[-1], flush=True)
    print()
    print(table(results))
    print(f"\nmachine: {json.dumps(machine(), ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
