"""Benchmark one data month at national scale, stage by stage (not part of the test suite).

    python bench/run.py [--scales 1000 30000 300000] [--month 2020-06] [--format xlsx]

For each scale, a landing area of that many communities is generated once with the sample-data
generator (cached in bench/data/<scale>-<format>/), then measured in fresh processes:

- floor:  reading the month's export once with pandas (read_excel/calamine or read_csv), the
          least any pipeline must spend;
- stages: ingest (read + parse), quality (GX suite + plain checks + warehouse load), figures
          (SQL + ranking/overdue files), documents (HTML + PDF of every document), and the whole.
          By default the previous month is run first, untimed, as it is in production (a
          month's run compares with last month's, 较上月); --cold times a month whose previous
          month is not in the warehouse yet, so its quality stage also loads that month.
- parse:  every DAG file parsed by Airflow's own DagBag after `airflow.sdk` is imported (as the
          DAG processor has it), with the heavy modules the parse imported (none expected).

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
        # the export's title lines have one field, its table many: name the widest line's fields
        import csv
        import itertools

        with snap.path.open(encoding="utf-8-sig", newline="") as f:
            width = max(len(r) for r in itertools.islice(csv.reader(f), 50))
        frame = pd.read_csv(snap.path, header=None, names=range(width), dtype=str,
                            encoding="utf-8-sig")
    else:
        frame = pd.read_excel(snap.path, header=None, engine="calamine", dtype=object)
    return {"seconds": time.perf_counter() - t, "peak_rss_mib": peak_rss_mib(),
            "rows": len(frame), "file_mib": snap.path.stat().st_size / 2**20}


def _settings(landing: Path, month: str, work: Path):
    from supervision.settings import RunSettings

    return RunSettings.resolve({"report_month": month, "inputs_dir": str(landing),
                                "output_dir": str(work / "output"), "send": False})


def child_previous(landing: Path, month: str, work: Path) -> dict:
    """Last month's run, as production has it before this one (untimed, its own process)."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    os.environ["SUPERVISION_WAREHOUSE_URL"] = f"sqlite:///{work / 'warehouse.db'}"
    from supervision import pipeline
    from supervision.months import Month

    s = _settings(landing, str(Month.parse(month).previous()), work)
    for fn in (pipeline.ingest, pipeline.check_quality, pipeline.compute_figures):
        fn(s)
    return {"peak_rss_mib": peak_rss_mib()}


def child_stages(landing: Path, month: str, work: Path) -> dict:
    import logging

    logging.basicConfig(level=logging.WARNING)
    os.environ["SUPERVISION_WAREHOUSE_URL"] = f"sqlite:///{work / 'warehouse.db'}"
    from supervision import pipeline

    s = _settings(landing, month, work)
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


def child_parse() -> dict:
    """Each DAG file: Airflow's own DagBag parse time (after airflow.sdk is imported, as the DAG
    processor has it) and which heavy modules the parse pulled in (none expected); then the file
    executed again on its own, its imports cached."""
    import runpy

    import airflow.sdk  # noqa: F401  (the DAG processor has Airflow imported already)
    from airflow.dag_processing.dagbag import DagBag

    heavy = ("pandas", "great_expectations", "weasyprint", "numpy", "pyarrow", "openpyxl",
             "python_calamine", "xlsxwriter")
    files = {}
    for path in sorted((ROOT / "dags").glob("*.py")):
        before = set(sys.modules)
        t = time.perf_counter()  # first: Airflow's own parse, with nothing of ours imported yet
        bag = DagBag(dag_folder=str(path))
        dagbag_s = time.perf_counter() - t
        loaded = sorted({m.split(".")[0] for m in set(sys.modules) - before} & set(heavy))
        t = time.perf_counter()  # then the file alone, its imports now cached
        runpy.run_path(str(path))
        files[path.name] = {"dagbag_seconds": dagbag_s, "exec_seconds": time.perf_counter() - t,
                            "dags": sorted(bag.dag_ids), "errors": len(bag.import_errors),
                            "heavy_imports": loaded}
    return files


def run_child(kind: str, landing: Path | None = None, month: str = "",
              work: Path | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, str(landing), month, str(work)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins"),
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", str(ROOT / ".airflow"))}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- whole processes

def timed_process(cmd: list[str], env: dict | None = None, cwd: Path = ROOT) -> dict:
    """Wall time and peak RSS of a whole process (the largest of it and its waited-for
    descendants: wait4's ru_maxrss), its output kept for the record."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": time.perf_counter() - t, "peak_rss_mib": usage.ru_maxrss / 1024,
            "returncode": proc.returncode, "tail": out[-3000:]}


def airflow_env(work: Path) -> dict:
    """`make run`'s environment (the Makefile's exports), the warehouse in the bench's folder."""
    return {**os.environ, "AIRFLOW_HOME": str(ROOT / ".airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{ROOT / '.airflow' / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING", "GX_ANALYTICS_ENABLED": "False",
            "PYTHONPATH": str(ROOT / "plugins"),
            "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
            "SUPERVISION_WAREHOUSE_URL": f"sqlite:///{work / 'airflow-warehouse.db'}"}


def whole_product(landing: Path, month: str, work: Path, cold: bool) -> dict:
    """`make run`'s command (scripts/run_month.sh: `airflow dags test` of the real DAG), timed
    as a whole process; the previous month run first, untimed, unless cold."""
    from supervision.months import Month

    env = airflow_env(work)
    out = work / "airflow-output"
    if not cold:
        prev = timed_process(["scripts/run_month.sh", str(Month.parse(month).previous()),
                              str(landing), str(out)], env)
        if prev["returncode"] != 0:
            raise SystemExit(f"make run of the previous month failed:\n{prev['tail']}")
    r = timed_process(["scripts/run_month.sh", month, str(landing), str(out)], env)
    if r["returncode"] != 0:
        raise SystemExit(f"make run failed:\n{r['tail']}")
    r["tasks"] = task_seconds()
    return r


def task_seconds() -> dict[str, float]:
    """The newest run's task durations, as Airflow recorded them (its metadata database)."""
    import sqlite3

    db = sqlite3.connect(ROOT / ".airflow" / "airflow.db")
    try:
        [run_id] = db.execute("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC "
                              "LIMIT 1", ("renovation_supervision_monthly",)).fetchone()
        rows = db.execute("SELECT task_id, (julianday(end_date) - julianday(start_date)) * 86400 "
                          "FROM task_instance WHERE dag_id = ? AND run_id = ? AND start_date "
                          "IS NOT NULL", ("renovation_supervision_monthly", run_id)).fetchall()
    finally:
        db.close()
    return {task: round(seconds, 2) for task, seconds in rows if seconds is not None}


def whole_peer(landing: Path, month: str, work: Path, product_month: Path) -> dict:
    """bench/peer.py as a whole process (interpreter start and imports included), then its
    files compared with the product's, cell by cell (untimed)."""
    r = timed_process([sys.executable, str(ROOT / "bench" / "peer.py"), str(landing), month,
                       str(work / "peer")])
    if r["returncode"] != 0:
        raise SystemExit(f"peer failed:\n{r['tail']}")
    cmp = subprocess.run([sys.executable, str(ROOT / "bench" / "peer.py"), str(landing), month,
                          str(work / "peer"), "--compare", str(product_month)],
                         capture_output=True, text=True)
    r["equal"] = cmp.returncode == 0
    r["comparison"] = cmp.stdout[-3000:]
    return r


def product_month_dir(out: Path, month: str) -> Path:
    for cand in (out / month, out / ".staging" / month):
        if (cand / "ranking.csv").exists():
            return cand
    found = sorted(out.rglob("ranking.csv"))
    found = [f.parent for f in found if month in str(f)]
    if not found:
        raise SystemExit(f"no ranking.csv of {month} under {out}")
    return found[0]


# --------------------------------------------------------------------------- report

def machine() -> dict:
    import pandas

    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(int(mem) / 2**20, 1),
            "python": platform.python_version(), "pandas": pandas.__version__,
            "platform": platform.platform()}


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def _task_time(make_run: dict) -> str:
    """The month's task time: its tasks' durations summed (Airflow's own records)."""
    tasks = make_run.get("tasks")
    return _s(sum(tasks.values())) if tasks else "–"


def table(results: list[dict]) -> str:
    head = ("| communities | rows read | floor: pandas read | ingest | quality+load | figures | "
            "documents | whole | peak RSS | peak / floor RSS | whole / floor time | "
            "make run (Airflow) | its task time | peer | product/peer | peer equal |")
    lines = [head, "|" + "---|" * 16]
    for r in results:
        f, s = r["floor"], r["stages"]
        lines.append(
            f"| {r['scale']:,} | {s['ingest']['summary']['rows_read']:,} | {_s(f['seconds'])} "
            f"({f['peak_rss_mib']:.0f} MiB) | {_s(s['ingest']['seconds'])} | "
            f"{_s(s['quality']['seconds'])} | {_s(s['figures']['seconds'])} | "
            f"{_s(s['documents']['seconds'])} | **{_s(s['whole']['seconds'])}** | "
            f"{s['whole']['peak_rss_mib']:.0f} MiB | {s['whole']['peak_rss_mib'] / f['peak_rss_mib']:.1f}× | "
            f"{s['whole']['seconds'] / f['seconds']:.1f}× | " + (
                f"{_s(r['make_run']['seconds'])} ({r['make_run']['peak_rss_mib']:.0f} MiB) | "
                f"{_task_time(r['make_run'])} | "
                f"{_s(r['peer']['seconds'])} ({r['peer']['peak_rss_mib']:.0f} MiB) | "
                f"**{r['ratio']:.2f}×** | {'yes' if r['peer']['equal'] else 'NO'} |"
                if "make_run" in r else "– | – | – | – | – |"))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1000, 30000, 300000])
    parser.add_argument("--month", default="2020-06")
    parser.add_argument("--format", choices=("xlsx", "csv"), default="xlsx")
    parser.add_argument("--cold", action="store_true",
                        help="do not run the previous month first (its load is then timed too)")
    parser.add_argument("--table", action="store_true",
                        help="print the table of the results stored in bench/results, run nothing")
    parser.add_argument("--no-whole", action="store_true",
                        help="stages only: skip make run (Airflow, whole process) and the peer")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table:
        suffix = "-cold" if args.cold else ""
        stored = [json.loads((RESULTS / f"{n}-{args.format}{suffix}.json").read_text())
                  for n in args.scales if (RESULTS / f"{n}-{args.format}{suffix}.json").exists()]
        print(table(stored))
        return 0
    if args.child:
        kind, landing, month, work = args.child
        if kind == "parse":
            result = child_parse()
        elif kind == "floor":
            result = child_floor(Path(landing), month)
        elif kind == "previous":
            result = child_previous(Path(landing), month, Path(work))
        else:
            result = child_stages(Path(landing), month, Path(work))
        print(json.dumps(result, ensure_ascii=False, default=str))
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    parse = run_child("parse")
    (RESULTS / "dag-parse.json").write_text(json.dumps(parse, indent=1))
    for name, p in parse.items():
        print(f"DAG file {name}: DagBag parse {p['dagbag_seconds'] * 1000:.0f} ms, executed "
              f"{p['exec_seconds'] * 1000:.0f} ms re-executed, {p['errors']} import errors, "
              f"heavy imports: {', '.join(p['heavy_imports']) or 'none'}", flush=True)
    results = []
    for scale in args.scales:
        landing = landing_for(scale, args.format, args.month)
        work = DATA / f"{scale}-{args.format}-run"
        if work.exists():
            subprocess.run(["rm", "-rf", str(work)], check=True)
        work.mkdir(parents=True)
        floor = run_child("floor", landing, args.month, work)
        if not args.cold:
            run_child("previous", landing, args.month, work)
        stages = run_child("stages", landing, args.month, work)
        result = {"scale": scale, "format": args.format, "month": args.month, "cold": args.cold,
                  "floor": floor, "stages": stages, "machine": machine()}
        if not args.no_whole:
            product = whole_product(landing, args.month, work, args.cold)
            peer = whole_peer(landing, args.month, work,
                              product_month_dir(work / "airflow-output", args.month))
            result.update(make_run=product, peer=peer,
                          ratio=product["seconds"] / peer["seconds"])
            print(f"{scale:,}: make run {product['seconds']:.1f} s ({product['peak_rss_mib']:.0f} MiB), "
                  f"peer {peer['seconds']:.1f} s ({peer['peak_rss_mib']:.0f} MiB), "
                  f"product/peer {result['ratio']:.2f}, peer equal: {peer['equal']}; task time "
                  f"{_task_time(product)} ({', '.join(f'{k} {v:.1f} s' for k, v in product['tasks'].items())})",
                  flush=True)
        suffix = "-cold" if args.cold else ""
        (RESULTS / f"{scale}-{args.format}{suffix}.json").write_text(
            json.dumps(result, ensure_ascii=False, indent=1, default=str))
        results.append(result)
        print(table([result]).splitlines()[-1], flush=True)
    print()
    print(table(results))
    print(f"\nmachine: {json.dumps(machine(), ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
