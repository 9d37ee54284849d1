"""Small commands the Makefile uses around a run.

    python -m supervision.cli run-date 2020-06         the logical date of that month's run
    python -m supervision.cli summary output 2020-06   where a month's results are
    python -m supervision.cli prewarm 2020-06 INPUTS OUTPUT
                                                       parse the month's plan and snapshot into
                                                       the cache while Airflow starts (make run)
    python -m supervision.cli delivery 2020-06         the month's delivery ledger: per message its
                                                       Message-ID, per recipient status and times,
                                                       why a row is not sent (--open: only those)
    python -m supervision.cli delivery 2020-06 --settle sent|failed [--message-id ID]
                                  [--document D] [--recipient R]
                                                       settle deliveries whose outcome is unknown
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from .config import ConfigError, programme_for_month
from .errors import SupervisionError
from .months import Month
from .workdays import CalendarNotCovered, publication_date


def run_date(month: str) -> str:
    m = Month.parse(month)
    day = int(programme_for_month(m).schedule.get("day_of_month", 2))
    return publication_date(m, day).isoformat()


def summary(output_dir: Path, month: str) -> str:
    folder = Path(output_dir).resolve() / month
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    with (folder / "ranking.csv").open(encoding="utf-8-sig") as f:
        ranking = list(csv.DictReader(f))
    with (folder / "overdue.csv").open(encoding="utf-8-sig") as f:
        overdue = list(csv.DictReader(f))
    with (folder / "early_warning.csv").open(encoding="utf-8-sig") as f:
        warned = [r["市州"] for r in csv.DictReader(f) if r["预警"] and r["市州"] != "全省"]
    counts = {}
    for name in ("spot_checks", "basic_category", "elevators"):
        with (folder / f"{name}.csv").open(encoding="utf-8-sig") as f:
            counts[name] = sum(1 for _ in csv.DictReader(f))
    province = ranking[-1]
    top = sorted((r for r in ranking[:-1]), key=lambda r: int(r["排名表位次"]))[:3]
    docs = [f["path"] for f in manifest["files"] if f["path"].endswith(".pdf")]
    outbox = Path(output_dir).resolve() / "outbox" / month
    mails = sorted(outbox.glob("*.eml")) if outbox.is_dir() else []
    lines = [
        f"Data month {month} (snapshot {manifest['inputs']['snapshot']['name']}, "
        f"published {manifest['inputs']['published_on']})",
        f"  全省: 开工率 {float(province['开工率']):.2%}, 投资完成率 "
        f"{float(province['投资完成率'] or 0):.2%}, 报送及时率 {float(province['报送及时率'] or 0):.2%}",
        "  top 3: " + ", ".join(f"{r['排名']}. {r['市州']} ({r['综合得分']})" for r in top),
        f"  ranking:        {folder / 'ranking.csv'} (+ .xlsx)",
        f"  overdue list:   {folder / 'overdue.csv'} ({len(overdue)} rows, + .xlsx)",
        f"  early warning:  {folder / 'early_warning.csv'} "
        f"({'、'.join(warned) if warned else 'no city'} will miss the start deadline at its pace)",
        f"  lists:          spot checks {counts['spot_checks']}, basic category "
        f"{counts['basic_category']}, elevators {counts['elevators']} (csv + xlsx)",
        f"  quality report: {folder / 'quality_report.html'}",
        f"  documents:      {len(docs)} PDF (+ HTML): {folder / 'monthly_bulletin.pdf'}, "
        f"{folder / 'notices'}/",
        f"  outbox:         {len(mails)} .eml in {outbox}" if mails else
        "  outbox:         nothing sent for this month",
    ]
    from .corrections import summary_lines  # noqa: PLC0415

    return "\n".join(lines + summary_lines(folder))


def delivery_status(month: str, settle: str | None = None, document: str | None = None,
                    recipient: str | None = None, message_id: str | None = None,
                    inputs_dir: Path | None = None, only_open: bool = False) -> str:
    """The ledger of ``month`` (warehouse of ``SUPERVISION_WAREHOUSE_URL``; ``recipients.csv`` of
    ``inputs_dir``, default the landing area, to mark replaced addresses superseded); with
    ``settle``, an operator's decision on the rows whose outcome is unknown: ``sent`` (the mail
    server's log shows it arrived) or ``failed`` (it did not; the next run of the send task
    sends it)."""
    from . import delivery, paths, warehouse  # noqa: PLC0415
    from .ledger_view import ledger_view  # noqa: PLC0415

    Month.parse(month)
    engine = warehouse.connect()
    lines = []
    if settle:
        n = delivery.settle_unresolved(engine, month, settle, document, recipient,
                                       note=f"settled as {settle} by an operator", message_id=message_id)
        lines.append(f"settled {n} unresolved deliveries of {month} as {settle}")
    lines.append(ledger_view(engine, month, inputs_dir or paths.default_inputs_dir(), only_open))
    return "\n".join(lines)


def prewarm(month: str, inputs_dir: Path, output_dir: Path) -> str:
    """The month's plan registry and snapshot parsed into the run's cache
    (:func:`supervision.pipeline.prewarm`); a refused file is left for the run to report."""
    import logging  # noqa: PLC0415
    import time  # noqa: PLC0415

    from . import pipeline  # noqa: PLC0415
    from .settings import RunSettings  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    s = RunSettings.resolve({"report_month": month, "inputs_dir": str(inputs_dir),
                             "output_dir": str(output_dir), "send": False})
    try:
        done = pipeline.prewarm(s)
    except SupervisionError as exc:
        return f"prewarm {month}: not cached ({exc}); the run reports it"
    return (f"prewarm {month}: {done['snapshot']} parsed, {done['rows_read']} rows, in "
            f"{time.perf_counter() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="helpers around a monthly run")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run-date", help="print the logical date of a data month's run")
    p.add_argument("month")
    p = sub.add_parser("summary", help="print where a month's results are")
    p.add_argument("output_dir", type=Path)
    p.add_argument("month")
    p = sub.add_parser("prewarm", help="parse a month's plan and snapshot into the run's cache")
    p.add_argument("month")
    p.add_argument("inputs_dir", type=Path)
    p.add_argument("output_dir", type=Path)
    p = sub.add_parser("delivery", help="show a month's delivery ledger; settle unknown outcomes")
    p.add_argument("month")
    p.add_argument("--settle", choices=["sent", "failed"])
    p.add_argument("--message-id", help="settle the rows of this message (the Message-ID shown)")
    p.add_argument("--document")
    p.add_argument("--recipient")
    p.add_argument("--inputs", type=Path, help="landing area whose recipients.csv is current "
                                               "(default: SUPERVISION_INPUTS_DIR or var/landing)")
    p.add_argument("--open", action="store_true", help="only the deliveries not sent")
    args = parser.parse_args(argv)
    try:
        if args.command == "run-date":
            print(run_date(args.month))
        elif args.command == "prewarm":
            print(prewarm(args.month, args.inputs_dir, args.output_dir))
        elif args.command == "delivery":
            print(delivery_status(args.month, args.settle, args.document, args.recipient,
                                  message_id=args.message_id, inputs_dir=args.inputs,
                                  only_open=args.open))
        else:
            print(summary(args.output_dir, args.month))
    except (SupervisionError, ConfigError, CalendarNotCovered, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
