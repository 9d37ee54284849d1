"""The operator's side of ``make run`` (scripts/run_month.sh): the one line a failed run prints,
and the steward's approval an operator names for a run that mails over SMTP.

    python -m supervision.make_run first-error <log>      the product's error of a failed run
    python -m supervision.make_run approve <YYYY-MM> --by <name> --run-id <id>

A failed run's log holds Airflow's framing around the product's own message (tracebacks, task
runner lines, SQLAlchemy errors of the metadata database). ``first-error`` finds the message a
stage raised on purpose — a refused file (file, row, column), a missing landing file, a bad
configuration, a delivery failure — and prints it as one line; the script prints the log's path
below it. ``approve`` records in ``steward_approvals`` that the named person approved the
month (``make run APPROVED_BY=<name>``): without it ``make run`` does not send over SMTP.
"""
from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

#: the errors the product raises on purpose (their class names, as a traceback ends with them)
PRODUCT_ERRORS = ("InputFileError", "LandingError", "SupervisionError", "ConfigError",
                  "DeliveryDataError", "DeliveryIncomplete", "NotDelivered", "CalendarNotCovered",
                  "QualityInvariantError", "AirflowFailException", "ValueError")
_ERROR_LINE = re.compile(r"(?:^|[\s\"'])(?:[\w.]+\.)?(" + "|".join(PRODUCT_ERRORS) + r"): (.+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def first_error(log_text: str) -> str | None:
    """The product's own error in a run's log, as one line (None when there is none): the first
    product error raised (a wrapper's message, AirflowFailException, repeats the cause)."""
    found: list[tuple[str, str]] = []
    for line in log_text.splitlines():
        line = _ANSI.sub("", line).rstrip()
        m = _ERROR_LINE.search(line)
        if m:
            message = m.group(2).strip().strip("\"'")
            found.append((m.group(1), message))
    if not found:
        return None
    own = [f for f in found if f[0] not in ("AirflowFailException", "ValueError")]
    kind, message = (own or found)[0]
    return message


def approve(month: str, by: str, run_id: str) -> str:
    from . import approvals, warehouse  # noqa: PLC0415
    from .months import Month  # noqa: PLC0415
    from .settings import RunSettings  # noqa: PLC0415

    Month.parse(month)
    name = " ".join(by.split())
    if not name:
        raise ValueError("APPROVED_BY is empty: name the data steward who approved the month")
    s = RunSettings.resolve({"report_month": month})
    engine = warehouse.connect(s.warehouse_url)
    d = approvals.Decision(
        month, run_id, approvals.APPROVED, name,
        datetime.now(timezone.utc).isoformat(timespec="seconds"),
        s.month_url("quality_report.html"),
        f"approved by {name}, named by the operator (make run APPROVED_BY=…); SMTP delivery")
    approvals.record(engine, d)
    return f"steward approval of {month} recorded: approved by {name} (run {run_id})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="make run's operator helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("first-error", help="the product's error of a failed run's log, one line")
    p.add_argument("log", type=Path)
    p = sub.add_parser("approve", help="record the named steward's approval of a month")
    p.add_argument("month")
    p.add_argument("--by", required=True)
    p.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)
    if args.command == "first-error":
        text = args.log.read_text("utf-8", errors="replace") if args.log.is_file() else ""
        message = first_error(text)
        if message is None:
            return 1
        print(message)
        return 0
    try:
        print(approve(args.month, args.by, args.run_id))
    except Exception as exc:  # noqa: BLE001 - the operator reads one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
