"""The stages of one month, as the DAG runs them: ingest → quality → figures → documents →
(steward approval) → send. Each stage is a plain function of :class:`RunSettings` that returns a
small JSON-able summary (what the DAG passes on as XCom); the data itself moves through files
and the warehouse.
"""
from __future__ import annotations

import json
import logging
import shutil
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, text

from . import corrections, delivery, documents, figures, outputs, processes, quality, tables
from . import early_warning, prefetch, spot_check, watch_lists
from .findings import stage as findings_stage
from . import quality_report as qr
from . import warehouse as wh
from .config import Programme, programme_for_month
from .ingest import (CachedExport, Export, Targets, load_export_cached, load_plan_cached,
                     load_targets, staged_frame, staged_raw_lines)
from .landing import (plan_file, previous_snapshot_for, recipients_file, sha256_of, snapshot_for,
                      targets_file)
from .months import Month, date_zh
from .settings import RunSettings
from .workdays import publication_date

log = logging.getLogger(__name__)

WORK = ".work"


def work_dir(s: RunSettings) -> Path:
    return s.output_dir / WORK / s.month


# --------------------------------------------------------------------------- ingest

def _snapshot_meta(export: Export | CachedExport) -> dict[str, Any]:
    return {"name": export.snapshot.name, "date": export.snapshot.taken_on.isoformat(),
            "sha256": export.sha256}


def cache_dir(s: RunSettings) -> Path:
    """Parsed plan registries and snapshots, kept across runs (ingest.load_*_cached)."""
    return s.output_dir / WORK / "cache"


def _plan(s: RunSettings, programme: Programme, targets: Targets,
          while_waiting: Callable[[], None] | None = None):
    """The year's plan registry, parsed once per file and code version (ingest.load_plan_cached)."""
    return load_plan_cached(plan_file(s.inputs_dir, programme.year), programme.province,
                            list(targets.frame.city), cache_dir(s), while_waiting)


def _export(s: RunSettings, programme: Programme, targets: Targets, snapshot,
            while_waiting: Callable[[], None] | None = None):
    """A snapshot, parsed once per file and code version (ingest.load_export_cached)."""
    return load_export_cached(snapshot, programme.province, list(targets.frame.city), cache_dir(s),
                              while_waiting)


def _read_inputs(s: RunSettings, while_waiting: Callable[[], None] | None = None):
    """The month's programme, snapshot, targets, plan registry and export (parsed or cached);
    ``while_waiting`` runs if another process is parsing them (ingest._cache_entry_lock)."""
    programme = programme_for_month(s.report_month)
    snapshot = snapshot_for(s.inputs_dir, s.report_month)
    targets = load_targets(targets_file(s.inputs_dir, programme.year), programme.province)
    plan = _plan(s, programme, targets, while_waiting)
    return programme, snapshot, targets, plan, _export(s, programme, targets, snapshot,
                                                       while_waiting)


def prewarm(s: RunSettings) -> dict[str, Any]:
    """Parse the month's plan registry and snapshot into the cache, and nothing else: ``make
    run`` runs this in a second process while Airflow starts, so the ingest task finds them
    parsed (it waits for a parse in progress rather than doing it twice). A file that is
    refused is not cached: the ingest task refuses it again, with the same message, in the
    run's log."""
    programme, snapshot, targets, plan, export = _read_inputs(s)
    log.info("prewarm %s: %s parsed (%d rows), %d plan communities", s.month, snapshot.name,
             export.rows_read, plan.rows)
    return {"report_month": s.month, "snapshot": snapshot.name, "rows_read": export.rows_read}


def ingest(s: RunSettings) -> dict[str, Any]:
    """Read the month's snapshot, the plan registry and the targets; stage them for quality.
    File-level problems raise here, before anything is written.

    When ``make run``'s prewarm is still parsing, this task waits for it, idle: it imports
    Great Expectations meanwhile, in a thread (``airflow dags test`` runs the tasks in one
    process, so the quality task finds it imported; a task in its own process only pays for
    the import in a moment it would have slept)."""
    programme, snapshot, targets, plan, export = _read_inputs(s, quality.start_gx_import)
    if s.send:  # fail fast: a run that will send needs its recipients before it publishes
        checked_recipients(s, programme, list(targets.frame.city))
    work = work_dir(s)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    targets.frame.to_parquet(work / "targets.parquet", index=False)
    plan.write_frame(work / "plan.parquet")
    export.write_frame(work / "export.parquet")
    meta = {
        "report_month": s.month,
        "programme_year": programme.year,
        "snapshot": _snapshot_meta(export),
        "plan": {"name": plan.name, "sha256": plan.sha256},
        "targets": {"name": targets.table.path.name, "sha256": targets.sha256},
        "export_table": export.meta(),
        "plan_table": plan.meta(),
        "rows_read": export.rows_read,
    }
    (work / "landing.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), "utf-8")
    log.info("ingest %s: %s, %d rows read (header on row %d), %d plan communities",
             s.month, snapshot.name, export.rows_read, export.header_row, plan.rows)
    return {"report_month": s.month, "snapshot": snapshot.name, "rows_read": export.rows_read,
            "plan_communities": plan.rows}


def _staged(s: RunSettings) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    work = work_dir(s)
    if not (work / "landing.json").exists():
        raise FileNotFoundError(f"{work}: nothing staged; run the ingest stage of {s.month} first")
    meta = json.loads((work / "landing.json").read_text("utf-8"))
    # the export without its raw cells: only the quarantined rows need them (staged_raw_lines)
    return (meta, pd.read_parquet(work / "targets.parquet"), pd.read_parquet(work / "plan.parquet"),
            staged_frame(work / "export.parquet"))


# --------------------------------------------------------------------------- quality + load

def _bulk(engine: Engine, programme: Programme, rows: dict[str, pd.DataFrame],
          plan_mark: str) -> dict[str, pd.DataFrame]:
    """The month's frames worth staging for its transaction: all but the plan when the
    warehouse already holds this year's plan as parsed (it is not rewritten then)."""
    out = dict(rows)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            if not wh.year_rows_changed(conn, "plan_communities", programme.year,
                                        rows["plan_communities"], plan_mark):
                out.pop("plan_communities")
    return out


class MonthLoad:
    """One month's load into the warehouse: its records, findings and quarantine replaced, the
    year's targets and plan with them, all in one transaction.

    The transaction can begin before the month's quality results are known
    (:meth:`begin_early`): what does not depend on them (the targets, the plan, and the month's
    records, their validity pending: ``is_valid`` true, ``plan_mismatch`` empty) is then written
    in a thread while the quality rules run. On SQLite the records go in through Arrow
    (:func:`warehouse.transaction`'s staging, and ``INSERT … SELECT``): C code that lets go of
    the GIL, so it takes the second core while GX runs on the first (≈ 5 s at 300,000).
    :meth:`finish` then sets the validity of the rows that have a finding (``UPDATE`` by primary
    key) and writes the findings, the quarantine and ``month_loads``; :meth:`commit` commits:
    readers never see the month half written. Leaving the ``with`` block before the commit (an
    error in the rules, or in the thread) rolls everything back."""

    def __init__(self, engine: Engine, programme: Programme, month: Month,
                 targets: pd.DataFrame, plan: pd.DataFrame, export: pd.DataFrame) -> None:
        self._engine, self._programme, self._month = engine, programme, month
        m = str(month)
        self._rows = {
            "targets": targets.assign(programme_year=programme.year),
            "plan_communities": plan.assign(programme_year=programme.year),
            # validity pending: finish() updates the rows that have a finding
            "monthly_records": export.assign(report_month=m, is_valid=True, plan_mismatch=None)}
        self._stack = ExitStack()
        self._early: Future[Connection] | None = None
        self._finished = self._done = False

    def __enter__(self) -> MonthLoad:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._done:
            return
        self._done = True
        if self._early is not None:
            wait([self._early])     # its own error, if any, is not the one to report here
        if exc_type is not None:
            self._stack.__exit__(exc_type, exc, tb)     # the rollback; the error goes on
            return
        unfinished = RuntimeError(f"the load of {self._month} was left without finish()")
        self._stack.__exit__(RuntimeError, unfinished, None)
        raise unfinished

    def begin_early(self) -> None:
        """Begin the transaction and write the rows that do not depend on the quality results,
        in a thread, when that work is C code (SQLite, a month staged through Arrow: at least
        :data:`warehouse.BULK_ROWS` records); otherwise :meth:`finish` does it all, as before."""
        if (self._engine.dialect.name == "sqlite"
                and len(self._rows["monthly_records"]) >= wh.BULK_ROWS):
            pool = ThreadPoolExecutor(1, thread_name_prefix="month-load")
            self._early = pool.submit(self._begin)
            pool.shutdown(wait=False)

    def _begin(self) -> Connection:
        rows, year = self._rows, self._programme.year
        plan_mark = wh.fingerprint(rows["plan_communities"])
        conn = self._stack.enter_context(
            wh.transaction(self._engine, bulk=_bulk(self._engine, self._programme, rows,
                                                    plan_mark)))
        wh.replace_year(conn, "targets", year, rows["targets"])
        # the plan is filed once a year: its rows are rewritten only when they differ
        wh.replace_year_if_changed(conn, "plan_communities", year, rows["plan_communities"],
                                   plan_mark)
        wh.replace_month(conn, "monthly_records", str(self._month), rows["monthly_records"])
        return conn

    def finish(self, kind: str, result: quality.QualityResult, quarantine: pd.DataFrame,
               meta: dict[str, Any], then: Callable[[Connection], None] | None = None) -> None:
        """Complete the load with the quality results (the thread's part first, if begun early);
        ``then`` (a function of the connection) runs last, in the same transaction."""
        m = str(self._month)
        conn = self._early.result() if self._early is not None else self._begin()
        records = self._rows["monthly_records"]
        _set_where_rows(conn, m, "is_valid", False,
                        records.source_row[~result.valid.to_numpy()].tolist())
        findings = result.findings
        mismatch = findings[findings.rule_id == "PLAN_MISMATCH"].groupby(
            "source_row")["field"].agg(lambda s: "、".join(dict.fromkeys(s)))
        for fields, rows in mismatch.groupby(mismatch, sort=True):   # a few distinct values
            _set_where_rows(conn, m, "plan_mismatch", fields, [int(r) for r in rows.index])
        wh.replace_month(conn, "quality_findings", m,
                         findings.assign(report_month=m, seq=range(1, len(findings) + 1)))
        wh.replace_month(conn, "quarantine", m, quarantine.assign(report_month=m))
        conn.execute(text("DELETE FROM month_loads WHERE report_month = :m"), {"m": m})
        wh.insert(conn, "month_loads", [{
            "report_month": m, "programme_year": self._programme.year, "kind": kind,
            "snapshot_file": meta["snapshot"]["name"], "snapshot_date": meta["snapshot"]["date"],
            "snapshot_sha256": meta["snapshot"]["sha256"], "plan_sha256": meta["plan"]["sha256"],
            "targets_sha256": meta["targets"]["sha256"], "rows_read": result.rows_read,
            "rows_accepted": result.rows_accepted, "rows_quarantined": result.rows_quarantined}])
        if then is not None:
            then(conn)
        self._finished = True

    def commit(self) -> None:
        """Commit what :meth:`finish` completed (separate, so that the caller can start work
        beside the commit, which is SQLite's own: ≈ 1 s at 300,000)."""
        if not self._finished:
            raise RuntimeError(f"the load of {self._month} is committed before its finish()")
        self._done = True
        self._stack.close()


#: at most this many rows named in one statement of :func:`_set_where_rows` (SQLite's limit
#: on a statement's parameters is 32,766)
_ROWS_PER_STATEMENT = 10_000


def _set_where_rows(conn: Connection, month: str, column: str, value: Any,
                    rows: list[int]) -> None:
    """``column`` = ``value`` in the month's records of these source rows: one statement per
    :data:`_ROWS_PER_STATEMENT` rows. (Row by row, each statement lets go of the GIL and waits
    to take it back from any thread running Python beside it: 1.2 s for 3,359 rows beside the
    quality report's thread at 300,000.)"""
    statement = text(f"UPDATE monthly_records SET {column} = :v "
                     "WHERE report_month = :m AND source_row IN :rows").bindparams(
        bindparam("rows", expanding=True))
    for first in range(0, len(rows), _ROWS_PER_STATEMENT):
        conn.execute(statement, {"v": value, "m": month,
                                 "rows": rows[first:first + _ROWS_PER_STATEMENT]})


def _current_load(engine: Engine, month: Month) -> dict[str, Any] | None:
    rows = wh.read_month(engine, "month_loads", str(month))
    return None if rows.empty else rows.iloc[0].to_dict()


def reference_month(engine: Engine, s: RunSettings, programme: Programme,
                    month: Month) -> pd.DataFrame | None:
    """The records of ``month`` (the month before a run's month) as its own run would load them.

    When the warehouse already holds that month from the same snapshot, plan and targets, they
    are used as they are; otherwise the month is loaded from the landing area (kind
    'reference') and its figures computed. So a month's 较上月 and backwards checks depend only
    on the landing area, never on which months happened to run before."""
    if not programme.covers(month):
        return None
    snapshot = previous_snapshot_for(s.inputs_dir, month.next())
    if snapshot is None:
        return None
    current = _current_load(engine, month)
    if (current and current["snapshot_sha256"] == sha256_of(snapshot.path)
            and current["plan_sha256"] == sha256_of(plan_file(s.inputs_dir, programme.year))
            and current["targets_sha256"] == sha256_of(targets_file(s.inputs_dir, programme.year))):
        return _comparison_records(engine, month)
    log.info("loading %s from %s as the previous month", month, snapshot.name)
    targets = load_targets(targets_file(s.inputs_dir, programme.year), programme.province)
    plan = _plan(s, programme, targets)
    export = _export(s, programme, targets, snapshot)
    frame = export.frame
    meta = {"snapshot": _snapshot_meta(export), "plan": {"sha256": plan.sha256},
            "targets": {"sha256": targets.sha256}}

    def reference_figures(conn: Connection) -> None:
        figures.compute_city_figures(conn, programme, month)
        figures.compute_overdue(conn, programme, month)

    with MonthLoad(engine, programme, month, targets.frame, plan.frame, frame) as load:
        load.begin_early()
        result = quality.evaluate(frame, plan.frame, targets.frame, snapshot.taken_on,
                                  previous=None, suite_name=f"monthly_export_{month}",
                                  file_findings=quality.summary_findings(export.meta())
                                  + quality.summary_findings(plan.meta()))
        quarantine = quality.quarantine_frame(frame, result,
                                              raw=export.raw_lines(~result.valid.to_numpy()))
        load.finish("reference", result, quarantine, meta, then=reference_figures)
        load.commit()
    return _comparison_records(engine, month)


def _comparison_records(engine: Engine, month: Month) -> pd.DataFrame:
    """What this month's checks compare with last month (quality._backwards): only the columns
    they read, not the whole month. In the order of the export's rows: SQLite then walks the
    primary key, the rows' own order on disk (without ORDER BY it chose the plan_key index and
    visited the rows at random, twice as slow at 300,000)."""
    return wh.frame(engine, "SELECT project_id, status, done_invest_yuan, is_valid "
                            "FROM monthly_records WHERE report_month = :m ORDER BY source_row",
                    m=str(month))


def _record_counts(engine: Engine, month: Month) -> pd.DataFrame:
    """A month's records counted per city and validity (a few dozen rows; SQLite's work, 0.8 s
    at 300,000, without the GIL: :func:`check_quality` runs it in a thread beside the rules)."""
    return wh.query(engine, qr.RECORD_COUNTS_SQL, report_month=str(month))


def _previous_summary(engine: Engine, month: Month,
                      counts: pd.DataFrame | None = None) -> dict[str, Any] | None:
    """Last month's rule counts and quarantined rows per city, for the quality report;
    ``counts``: its :func:`_record_counts`, when already read."""
    if _current_load(engine, month) is None:
        return None
    return qr.month_summary(
        wh.read_month(engine, "quality_findings", str(month), qr.SUMMARY_COLUMNS["findings"]),
        counts if counts is not None else _record_counts(engine, month))


def check_quality(s: RunSettings) -> dict[str, Any]:
    """Run the quality rules, load the month into the warehouse, write the quality report."""
    month = s.report_month
    programme = programme_for_month(month)
    engine = wh.connect(s.warehouse_url)
    # last month's records first, then GX's import in a thread beside the staged files' reads:
    # a thread importing beside sqlite3's row-by-row fetch (it lets go of the GIL at every row)
    # made that fetch 4× slower (1.4 → 6.3 s at 300,000); Arrow's parquet reads do not suffer
    previous = reference_month(engine, s, programme, month.previous())
    quality.start_gx_import()
    meta, targets, plan, export = _staged(s)
    snapshot_date = date.fromisoformat(meta["snapshot"]["date"])
    # last month's records counted (SQLite's work) and the month's load begun (MonthLoad), in
    # threads beside the rules: C code without the GIL, on the second core
    with ThreadPoolExecutor(1, thread_name_prefix="last-month") as side, \
            MonthLoad(engine, programme, month, targets, plan, export) as load:
        counts = side.submit(_record_counts, engine, month.previous())
        load.begin_early()
        result = quality.evaluate(export, plan, targets, snapshot_date, previous,
                                  suite_name=f"monthly_export_{month}",
                                  file_findings=quality.summary_findings(meta["export_table"])
                                  + quality.summary_findings(meta.get("plan_table")))
        book = quality.load_rules()
        quarantine = quality.quarantine_frame(
            export, result, book,
            raw=staged_raw_lines(work_dir(s) / "export.parquet", ~result.valid.to_numpy()))
        # last month's summary (its findings read here: a row at a time, each row letting go
        # of the GIL, they would wait on the rules' thread to take it back)
        before = _previous_summary(engine, month.previous(), counts.result())
        staging = outputs.fresh_staging(s.output_dir, s.month)
        load.finish("full", result, quarantine, meta)
        # the report is written in a thread while the load commits: that is SQLite's own work,
        # without the GIL; the report is Python (beside the statements before the commit,
        # each would wait to take the GIL back from it)
        with ThreadPoolExecutor(1, thread_name_prefix="quality-report") as pool:
            report = pool.submit(qr.write_report, staging, month, export, plan, result,
                                 quarantine, book, list(targets.city), meta["export_table"],
                                 meta.get("plan_table"),
                                 {**meta["snapshot"], "date": snapshot_date}, before)
            load.commit()
            report.result()
    summary = {"report_month": s.month, "rows_read": result.rows_read,
               "rows_accepted": result.rows_accepted,
               "rows_quarantined": result.rows_quarantined,
               "findings": len(result.findings),
               "findings_blocking": int((result.findings.severity == "blocking").sum()),
               "findings_warning": int((result.findings.severity == "warning").sum())}
    log.info("quality %s: %d rows read, %d accepted, %d quarantined; findings: %d blocking, "
             "%d warning", s.month, result.rows_read, result.rows_accepted,
             result.rows_quarantined, summary["findings_blocking"], summary["findings_warning"])
    return summary


# --------------------------------------------------------------------------- figures

def compute_month_figures(conn: Connection, programme: Programme, month: Month,
                          then: Callable[[str, pd.DataFrame], None] | None = None,
                          ) -> dict[str, pd.DataFrame]:
    """Every figure of ``month``, computed and stored in the warehouse in one transaction:
    ``figures`` (per city and 全省), ``overdue``, ``warnings`` (early warning), ``sample`` (N8),
    ``basic`` (N10) and ``elevators`` (N11). ``then(name, frame)`` is called with each as soon
    as it is computed."""
    steps = (("figures", figures.compute_city_figures), ("overdue", figures.compute_overdue),
             ("warnings", early_warning.compute_early_warnings),
             ("sample", spot_check.compute_spot_checks),
             ("basic", watch_lists.compute_basic_category_list),
             ("elevators", watch_lists.compute_elevator_list))
    out = {}
    for name, compute in steps:
        out[name] = compute(conn, programme, month)
        if then is not None:
            then(name, out[name])
    return out


def _table_jobs(staging: Path, month: Month, subtitle: str | None,
                programme: Programme) -> dict[str, Callable[[pd.DataFrame], processes.Jobs]]:
    """What the figures stage writes of each computed table (its csv and xlsx twins), as
    ``(function, args)`` jobs: top-level functions and picklable arguments, so that a side
    process can run them as well as a thread (:class:`processes.SideWriter`)."""
    label = month.label_zh()
    return {
        "figures": lambda f: [
            (tables.write_ranking_csv, (staging / "ranking.csv", f)),
            (tables.write_ranking_xlsx, (staging / "ranking.xlsx", f,
                                         f"{label}各市州城镇老旧小区改造工作进展情况排名",
                                         subtitle, programme.weights))],
        "overdue": lambda f: [
            (tables.write_overdue_csv, (staging / "overdue.csv", f)),
            (tables.write_overdue_xlsx, (staging / "overdue.xlsx", f,
                                         f"{label}城镇老旧小区改造逾期及问题小区清单", subtitle))],
        "warnings": lambda f: [(tables.write_early_warning,
                                (staging, f, f"{label}各市州开工进度预警", subtitle))],
        "sample": lambda f: [(tables.write_spot_checks,
                              (staging, f, f"{label}城镇老旧小区改造现场抽查样本", subtitle))],
        "basic": lambda f: [(tables.write_basic_category,
                             (staging, f, f"{label}基础类改造内容核查清单", subtitle))],
        "elevators": lambda f: [(tables.write_elevators,
                                 (staging, f, f"{label}加装电梯在建小区清单", subtitle))]}


def _queries_ahead(programme: Programme, month: Month) -> list[prefetch.Query]:
    """The figure queries a large month runs ahead (prefetch.py), in the order the stage takes
    them: all but the first (city progress, run here while the side process starts)."""
    return [figures.overdue_query(programme, month), early_warning.pace_query(programme, month),
            spot_check.population_query(programme, month),
            watch_lists.basic_category_query(programme, month),
            watch_lists.elevator_query(programme, month)]


def compute_figures(s: RunSettings) -> dict[str, Any]:
    """The month's figures (docs/figures.md) into the warehouse, and their tables into the
    staging folder: ranking, overdue list, early warning, spot-check sample (N8), basic-category
    list (N10), elevator list (N11), each as csv and xlsx."""
    month = s.report_month
    programme = programme_for_month(month)
    engine = wh.connect(s.warehouse_url)
    load = _current_load(engine, month)
    subtitle = (f"数据截至{date_zh(month.last_day)}　数据来源：{load['snapshot_file']}"
                if load else None)
    staging = outputs.staging_dir(s.output_dir, s.month)
    jobs = _table_jobs(staging, month, subtitle, programme)
    rows = int(load["rows_accepted"]) if load else 0
    # each table's files are written beside the next tables' SQL, in the order computed: by a
    # thread (SQLite works without the GIL), or for a large month by a second process (the
    # writers are Python: a thread would only take turns with this one). The files are the same.
    # A large month's queries after the first run ahead in one more process (prefetch.py),
    # while this one stores and writes the tables before them.
    with processes.SideWriter(rows, "figures files") as side, \
            prefetch.Prefetch(engine, s.month, rows, _queries_ahead(programme, month)) as ahead:
        with engine.begin() as conn, ahead.attached(conn):
            computed = compute_month_figures(conn, programme, month,
                                             then=lambda name, frame: side.submit(jobs[name](frame)))
        side.wait()
    city, overdue, warnings = computed["figures"], computed["overdue"], computed["warnings"]
    sample, basic, elevators = computed["sample"], computed["basic"], computed["elevators"]
    cities = [r for r in city.to_dict("records") if r["city"] != figures.PROVINCE_ROW]
    log.info("figures %s: %d cities ranked (%d lagging), %d overdue rows, %d early warnings, "
             "%d spot checks, %d basic-category items, %d elevator works", s.month, len(cities),
             sum(1 for r in cities if r["lagging"]), len(overdue),
             sum(1 for r in warnings.to_dict("records")
                 if r["city"] != figures.PROVINCE_ROW and r["will_miss"]),
             len(sample), len(basic), len(elevators))
    return {"report_month": s.month, "cities": len(cities), "overdue_items": len(overdue),
            "lagging": [r["city"] for r in cities if r["lagging"]],
            "early_warning": [r["city"] for r in warnings.to_dict("records")
                              if r["city"] != figures.PROVINCE_ROW and r["will_miss"]],
            "spot_checks": len(sample), "basic_category_items": len(basic),
            "elevator_works": len(elevators)}


# --------------------------------------------------------------------------- documents

NOTICE_ITEMS_SQL = "documents/notice_items"


def _bulletin_warnings(engine: Engine, month: Month) -> list[documents.EarlyWarning]:
    """The early warnings of the figures stage, as the bulletin's paragraph takes them (no
    projection once the start deadline's month is reached: the overdue list takes over)."""
    with engine.connect() as conn:
        rows = early_warning.read_early_warnings(conn, month)
    return [documents.EarlyWarning(
                city=r["city"], projected_start_rate=r["projected_start_rate"] if r["months_left"] else None,
                projected_investment_rate=None,
                will_miss_start=bool(r["will_miss"]) and bool(r["months_left"]),
                will_miss_investment=False)
            for r in wh.records(rows) if r["city"] != figures.PROVINCE_ROW]


def document_inputs(engine: Engine, month: Month) -> dict[str, Any]:
    """What the documents of ``month`` are rendered from, read from the warehouse: the keyword
    arguments of ``documents.render_month`` (but the folder)."""
    programme = programme_for_month(month)
    load = _current_load(engine, month)
    day = int(programme.schedule.get("day_of_month", 2))
    published = publication_date(month, day)
    return {
        "programme": programme, "month": month,
        "figures": figures.read_city_figures(engine, month),
        "items": wh.query(engine, NOTICE_ITEMS_SQL, report_month=str(month),
                          programme_year=programme.year),
        "snapshot": {"name": load["snapshot_file"], "date": date.fromisoformat(load["snapshot_date"])},
        "published": published,
        "warnings": _bulletin_warnings(engine, month),
        "falsification": findings_stage.circulated_before(
            engine, month, published, publication_date(month.previous(), day)),
    }


def render_documents(s: RunSettings) -> dict[str, Any]:
    """Render the bulletin and the notices (HTML + PDF), write the manifest, publish the month."""
    month = s.report_month
    engine = wh.connect(s.warehouse_url)
    inputs = document_inputs(engine, month)
    load = _current_load(engine, month)
    published = inputs["published"]
    staging = outputs.staging_dir(s.output_dir, s.month)
    programme, items = inputs["programme"], inputs["items"]
    # each notice's city list, attached to it as xlsx (no other city's rows): written beside
    # the PDFs, by a thread or, for a large month, a second process (processes.SideWriter)
    lists = [(tables.write_notice_list_xlsx,
              (staging / "notices" / f"{programme.province.city(name).code}.xlsx",
               items[items.city == name],
               f"{month.label_zh()}{programme.province.display_name(name)}"
               "城镇老旧小区改造逾期及问题小区清单"))
             for name in documents.notice_cities(inputs["figures"], items)]
    if lists:   # (the writer may start before the PDFs make the folder; none without notices)
        (staging / "notices").mkdir(parents=True, exist_ok=True)
    with processes.SideWriter(int(load["rows_accepted"]) if load else 0, "notice lists") as side:
        side.submit(lists)
        rendered = documents.render_month(folder=staging, **inputs)
        side.wait()
    written = [r.document for r in rendered]
    # a rerun of a sent month: compare with the last sent version, write the correction
    correction = corrections.prepare(engine, s, inputs["programme"], staging)
    outputs.write_manifest(staging, {
        "report_month": s.month,
        "snapshot": {"name": load["snapshot_file"], "date": load["snapshot_date"],
                     "sha256": load["snapshot_sha256"]},
        "plan_sha256": load["plan_sha256"], "targets_sha256": load["targets_sha256"],
        "published_on": published.isoformat(),
    })
    corrections.carry(s, staging)   # the sent versions (<M>/sent/) survive the replacement
    outputs.attach_to_manifest(staging, corrections.SENT_DIR)
    target = outputs.publish(s.output_dir, s.month)
    shutil.rmtree(work_dir(s), ignore_errors=True)
    log.info("documents %s: %d rendered, published to %s", s.month, len(written), target)
    return {"report_month": s.month, "documents": written, "folder": str(target),
            "published_on": published.isoformat(), "correction": correction}


# --------------------------------------------------------------------------- send

def checked_recipients(s: RunSettings, programme: Programme,
                       target_cities: list[str] | None = None) -> list[delivery.Recipient]:
    """``recipients.csv`` read and checked: a 主送 and a 抄送 address for each of the year's
    target cities (aliases of the province file allowed). The ingest stage calls it too when
    the run will send, so a bad file stops the month before anything is published or approved,
    with the same message the send stage would give."""
    path = recipients_file(s.inputs_dir)
    recipients = delivery.read_recipients(path, programme.province)
    if target_cities is None:  # the send stage: the year's targets file, as the ingest read it
        target_cities = list(load_targets(targets_file(s.inputs_dir, programme.year),
                                          programme.province).frame.city)
    delivery.check_recipients(path, recipients, target_cities, programme.province.city_names)
    return recipients


def outgoing_messages(s: RunSettings, programme: Programme,
                      recipients: list[delivery.Recipient]) -> list[delivery.Outgoing]:
    """The month's messages: the 月度通报 to every city (its three departments, 抄送 its
    government) with the ranking as xlsx, the 年中/年底通报 likewise in their months, and each
    督办通知 to its own city with its overdue list."""
    folder = outputs.month_dir(s.output_dir, s.month)
    label = s.report_month.label_zh()
    issuer = programme.documents.get("issuer", "")
    by_city: dict[str, list[delivery.Recipient]] = {}
    for r in recipients:
        by_city.setdefault(r.city, []).append(r)
    messages = []
    for c in programme.province.cities:
        rs = by_city.get(c.name, [])
        if not rs:  # a city without targets this year and without addresses: nothing to send
            continue
        to = [r for r in rs if r.role == delivery.MAIN]
        cc = [r for r in rs if r.role == delivery.CC]
        messages.append(delivery.Outgoing(
            document="monthly_bulletin", city=c.name, city_code=c.code,
            subject=f"关于{label}全省城镇老旧小区改造工作进展情况的通报",
            body=f"{c.name}：\n\n现将{label}全省城镇老旧小区改造工作进展情况通报印发给你们，"
                 f"排名表见附件。\n\n{issuer}\n",
            to=to, cc=cc,
            attachments=[folder / "monthly_bulletin.pdf", folder / "ranking.xlsx"]))
        for kind in documents.COMPLETION_KINDS:   # 年中/年底通报, in the months that have one
            bulletin = folder / f"{kind}.pdf"
            if bulletin.exists():
                title = "".join(documents.completion_title_lines(programme, kind))
                messages.append(delivery.Outgoing(
                    document=kind, city=c.name, city_code=c.code, subject=title,
                    body=f"{c.name}：\n\n现将《{title}》印发给你们，请认真对照任务目标抓好落实。"
                         f"\n\n{issuer}\n",
                    to=to, cc=cc, attachments=[bulletin]))
        notice = folder / "notices" / f"{c.code}.pdf"
        if notice.exists():
            messages.append(delivery.Outgoing(
                document=f"notice:{c.code}", city=c.name, city_code=c.code,
                subject=f"关于督促加快{c.name}城镇老旧小区改造工作的通知",
                body=f"{c.name}：\n\n{label}城镇老旧小区改造督办通知及逾期、问题小区清单见附件，"
                     f"请按要求整改并报送整改情况。\n\n{issuer}\n",
                to=to, cc=cc, attachments=[notice, notice.with_suffix(".xlsx")]))
    return messages


def send(s: RunSettings, transport: delivery.Transport | None = None,
         sender: str | None = None) -> dict[str, Any]:
    """Deliver the approved month's documents; with ``send`` off, deliver nothing.

    ``transport`` is the SMTP transport the Airflow task builds from its connection; without
    one the embedded default writes .eml files to the outbox. Raises
    :class:`delivery.DeliveryIncomplete` after recording when someone was not reached."""
    if not s.send:
        log.info("send %s: sending is off for this run (backfill or send=false); nothing sent", s.month)
        return {"report_month": s.month, "sent": False, "reason": "send disabled for this run"}
    programme = programme_for_month(s.report_month)
    recipients = checked_recipients(s, programme)
    messages = outgoing_messages(s, programme, recipients)
    if transport is None:
        if s.delivery != "outbox":
            raise delivery.DeliveryDataError(
                f"SUPERVISION_DELIVERY={s.delivery} but no SMTP transport was given")
        transport = delivery.OutboxTransport(s.outbox_dir / s.month)
    engine = wh.connect(s.warehouse_url)
    # the version this send delivers (1, or a correction), frozen in <M>/sent/v<N>/
    version = corrections.plan(engine, s, programme, messages)
    delivery.check_attachments(version.messages)
    corrections.start(engine, s, version)
    report = delivery.deliver(engine, s.month, version.messages, transport, sender or s.sender)
    summary = {"report_month": s.month, "sent": True, **report.as_dict(),
               **corrections.finish(engine, s, version, report)}
    log.info("send %s: %d messages; recipients sent %d, skipped (already sent) %d, failed %d, "
             "unresolved %d", s.month, summary["messages"], summary["recipients_sent"],
             summary["recipients_skipped"], summary["recipients_failed"],
             summary["recipients_unresolved"])
    incomplete = report.incomplete(s.month)
    if incomplete is not None:
        log.error("send %s: %s", s.month, incomplete)
        raise incomplete
    return summary


def run_month(s: RunSettings, approve: bool = True) -> dict[str, Any]:
    """Every stage in order, without Airflow (tests, benchmarks)."""
    out = {"ingest": ingest(s), "quality": check_quality(s), "figures": compute_figures(s),
           "documents": render_documents(s)}
    if approve:
        out["send"] = send(s)
    return out
