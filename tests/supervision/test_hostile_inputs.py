"""Hostile inputs beyond the export corpus's own harness (issue 14): recipients.csv as the
ingest stage checks it when a run will send, mail headers that cannot be injected, csv cells
that cannot become formulas, oversized numbers through the figures on SQLite and PostgreSQL,
a stray quote in a 1,000-line export, and the operator's `make run` (one clean error line, one
run at a time, no SMTP without a named approver)."""
from __future__ import annotations

import csv
import email
import email.policy
import fcntl
import os
import re
import subprocess
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from supervision import delivery, outputs, pipeline
from supervision.errors import InputFileError, LandingError
from supervision.readers import read_table
from supervision.settings import RunSettings
from tests.fixtures import corpus
from tests.fixtures.corpus import MONTH, RECIPIENT_CASES
from tests.fixtures.runs import warehouse_env

ROOT = Path(__file__).resolve().parents[2]


def _settings(tmp_path, landing, send: bool) -> RunSettings:
    return RunSettings.resolve({"report_month": MONTH, "inputs_dir": str(landing),
                                "output_dir": str(tmp_path / "out"), "send": send})


def _landing(tmp_path) -> Path:
    landing = corpus.base_landing(tmp_path / "landing")
    corpus._xlsx_export(landing)
    return landing


# --------------------------------------------------------------------------- recipients.csv

@pytest.mark.parametrize("case", RECIPIENT_CASES, ids=[c.id for c in RECIPIENT_CASES])
def test_recipients_are_checked_in_the_ingest_stage_of_a_run_that_sends(case, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERVISION_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    landing = _landing(tmp_path)
    corpus.write_recipients(landing, case)
    s = _settings(tmp_path, landing, send=True)
    if case.error:
        with pytest.raises(InputFileError) as info:
            pipeline.ingest(s)
        assert re.search(case.error, str(info.value)), str(info.value)
        assert not pipeline.work_dir(s).exists()      # nothing staged, nothing published
        # the send stage gives the same message
        with pytest.raises(InputFileError) as again:
            from supervision.config import programme_for_month
            pipeline.checked_recipients(s, programme_for_month(s.report_month),
                                        ["长沙市", "株洲市", "湘西自治州"])
        assert str(again.value) == str(info.value)
        return
    pipeline.ingest(s)
    from supervision.config import load_province
    recipients = delivery.read_recipients(landing / "recipients.csv", load_province("hunan"))
    assert len(recipients) == case.addresses
    assert {r.city for r in recipients} == {"长沙市", "株洲市", "湘西自治州"}


def test_a_run_that_sends_needs_recipients_csv_and_one_that_does_not_runs_without(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERVISION_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    landing = _landing(tmp_path)
    with pytest.raises(LandingError, match=r"recipients\.csv is needed for sending and is missing"):
        pipeline.ingest(_settings(tmp_path, landing, send=True))
    s = _settings(tmp_path, landing, send=False)
    assert pipeline.ingest(s)["rows_read"] == 6
    pipeline.check_quality(s)
    pipeline.compute_figures(s)
    pipeline.render_documents(s)
    assert pipeline.send(s)["sent"] is False


def _message(to: list[delivery.Recipient]):
    msg = delivery.Outgoing("monthly_bulletin", "长沙市", "changsha", "通报", "正文", to, [])
    return delivery.build_message(msg, "renovation-supervision@example.gov.cn", to, [],
                                  datetime(2020, 7, 10, tzinfo=timezone.utc), "<x@example.gov.cn>")


def test_mail_headers_are_built_from_a_validated_name_and_address():
    to = [delivery.Recipient("长沙市", "长沙市住房和城乡建设局", "主送", "zjj@cs.example.gov.cn"),
          delivery.Recipient("长沙市", "长沙市发展和改革委员会", "主送", "fgw@cs.example.gov.cn")]
    raw = _message(to).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert [a.addr_spec for a in parsed["To"].addresses] == ["zjj@cs.example.gov.cn", "fgw@cs.example.gov.cn"]
    # (email's modern parser puts a space between two encoded words of one name; the RFC 2047
    # decoder joins them, as mail clients do)
    from email.header import decode_header, make_header
    assert str(make_header(decode_header(email.message_from_bytes(raw)["To"]))) == (
        "长沙市住房和城乡建设局 <zjj@cs.example.gov.cn>, 长沙市发展和改革委员会 <fgw@cs.example.gov.cn>")
    # a name or an address that would add recipients is refused, never written into a header
    for bad in (delivery.Recipient("长沙市", "住建局 <attacker@evil.example>,", "主送", "zjj@cs.example.gov.cn"),
                delivery.Recipient("长沙市", "住建局", "主送", "zjj@cs.example.gov.cn, attacker@evil.example"),
                delivery.Recipient("长沙市", "住建局\r\nBcc: attacker@evil.example", "主送", "a@b.cn")):
        with pytest.raises(delivery.DeliveryDataError):
            _message([bad])


# --------------------------------------------------------------------------- csv formulas

def test_csv_cells_that_would_be_formulas_are_neutralised_and_numbers_stay_numbers(tmp_path):
    path = outputs.write_csv(tmp_path / "x.csv", ["小区", "较上月", "排名较上月"], [
        ['=HYPERLINK("http://evil.example/a","点击")', "-1.25", -2],
        ["+86 123", "+0.50", 3], ["@SUM(A1)", "-0.5000", 0], ["\tcmd", "-12%", None],
        ["\rcmd", "1e-3", 1], ["-1+2", "-", 1], ["长沙市 =1", "0.00", 1]])
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"http://evil.example/a\",\"点击\")", "'+86 123",
                                        "'@SUM(A1)", "'\tcmd", "'\ncmd", "'-1+2", "长沙市 =1"]
    assert [r[1] for r in rows[1:]] == ["-1.25", "+0.50", "-0.5000", "-12%", "1e-3", "'-", "0.00"]
    assert [r[2] for r in rows[1:]] == ["-2", "3", "0", "", "1", "1", "1"]


def _formula_landing(tmp_path) -> Path:
    # a csv export: openpyxl would store "=..." as a formula (read back empty), a csv keeps it
    landing = corpus.base_landing(tmp_path / "landing")
    corpus.write_csv(corpus.export_path(landing, ".csv"), corpus.export_grid(corpus._records(
        HN202000001={"改造状态": '=HYPERLINK("http://evil.example/a","点击")'},
        HN202000002={"小区名称": "@SUM(1+1)*cmd|' /C calc'!A0", "项目编号": "-2+3"},
        HN202000004={"实施责任人电话": "+1-2", "监管责任人": "=cmd|' /C calc'!A0"})))
    return landing


def test_no_csv_a_month_writes_holds_a_formula(tmp_path):
    landing = _formula_landing(tmp_path)
    with warehouse_env(f"sqlite:///{tmp_path / 'w.db'}"):
        s = _settings(tmp_path, landing, send=False)
        pipeline.ingest(s)
        pipeline.check_quality(s)
        pipeline.compute_figures(s)
        pipeline.render_documents(s)
    folder = tmp_path / "out" / MONTH
    files = sorted(folder.rglob("*.csv"))
    assert {"overdue.csv", "quarantine.csv", "findings.csv", "ranking.csv"} <= {p.name for p in files}
    plain_number = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?")
    seen_neutralised = 0
    for p in files:
        with open(p, encoding="utf-8-sig", newline="") as f:
            for row in csv.reader(f):
                for cell in row:
                    assert not (cell[:1] in ("=", "+", "-", "@", "\t", "\r")
                                and not plain_number.fullmatch(cell)), (p.name, cell)
                    seen_neutralised += cell.startswith(("'=", "'@", "'+", "'-"))
    assert seen_neutralised >= 3
    findings = (folder / "quality" / "findings.csv").read_text("utf-8-sig")
    assert "'=HYPERLINK(\"\"http://evil.example/a\"\",\"\"点击\"\")" in findings


# --------------------------------------------------------------------------- numbers and cells

def _run_figures(landing, out, url):
    with warehouse_env(url):
        s = RunSettings.resolve({"report_month": MONTH, "inputs_dir": str(landing),
                                 "output_dir": str(out), "send": False})
        pipeline.ingest(s)
        quality = pipeline.check_quality(s)
        figures = pipeline.compute_figures(s)
    return quality, figures


def _oversized_landing(tmp_path) -> Path:
    case = next(c for c in corpus.CASES if c.id == "oversized_numbers")
    landing = tmp_path / "landing"
    case.build(landing)
    return landing


def test_oversized_numbers_never_reach_a_sum_on_sqlite(tmp_path):
    quality, _ = _run_figures(_oversized_landing(tmp_path), tmp_path / "out",
                              f"sqlite:///{tmp_path / 'w.db'}")
    assert quality["rows_quarantined"] == 3
    with open(tmp_path / "out" / ".staging" / MONTH / "ranking.csv", encoding="utf-8-sig") as f:
        ranking = {r["市州"]: r for r in csv.DictReader(f)}
    assert ranking  # the figures stage ran to its end


@pytest.mark.postgres
def test_oversized_numbers_never_reach_a_sum_on_postgresql(tmp_path, postgres_server):
    quality, _ = _run_figures(_oversized_landing(tmp_path), tmp_path / "out",
                              postgres_server.create_database("oversized"))
    assert quality["rows_quarantined"] == 3


def test_values_at_the_bound_are_kept_and_beyond_it_quarantined(tmp_path, monkeypatch):
    from supervision.limits import limits

    bound_wan = limits().money_yuan // 10000
    monkeypatch.setenv("SUPERVISION_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    landing = corpus.base_landing(tmp_path / "landing")
    corpus._xlsx_export(landing, corpus._records(
        HN202000001={"计划总投资(万元)": bound_wan}, HN202000002={"计划总投资(万元)": bound_wan + 0.01},
        HN202000003={"涉及户数(户)": limits().households + 1}))
    s = _settings(tmp_path, landing, send=False)
    pipeline.ingest(s)
    frame = pd.read_parquet(pipeline.work_dir(s) / "export.parquet")
    assert frame.planned_invest_yuan.iloc[0] == limits().money_yuan
    assert pd.isna(frame.planned_invest_yuan.iloc[1]) and pd.isna(frame.households.iloc[2])
    pipeline.check_quality(s)
    with open(tmp_path / "out" / ".staging" / MONTH / "quality" / "findings.csv", encoding="utf-8-sig") as f:
        found = {(r["源文件行号"], r["规则编号"]) for r in csv.DictReader(f)}
    assert ("5", "VALUE_OUT_OF_RANGE") in found and ("6", "VALUE_OUT_OF_RANGE") in found
    assert ("4", "VALUE_OUT_OF_RANGE") not in found


def test_a_long_cell_is_read_cut_and_named_by_row_and_column(tmp_path, monkeypatch):
    case = next(c for c in corpus.CASES if c.id == "csv_cell_too_long")
    monkeypatch.setenv("SUPERVISION_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    landing = tmp_path / "landing"
    case.build(landing)
    s = _settings(tmp_path, landing, send=False)
    pipeline.ingest(s)
    pipeline.check_quality(s)
    staging = tmp_path / "out" / ".staging" / MONTH
    with open(staging / "quality" / "findings.csv", encoding="utf-8-sig") as f:
        finding = next(r for r in csv.DictReader(f) if r["规则编号"] == "CELL_TOO_LONG")
    assert finding["源文件行号"] == str(corpus.R3)
    assert finding["字段"] == "小区地址"
    assert finding["发现的值"].startswith("1048576字符：岳麓区长长")
    assert (staging / "quarantine.csv").stat().st_size < 20_000   # not the 1 MB cell


def test_an_unclosed_quote_in_line_961_of_a_1000_line_export_is_refused(tmp_path):
    recs = []
    for i in range(994):
        r = dict(corpus.base_records()[i % 6], **{"项目编号": f"HN2020{i:05d}", "序号": i + 1})
        recs.append(r)
    path = corpus.export_path(tmp_path, ".csv")
    corpus.write_csv(path, corpus.export_grid(recs))
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    assert len(lines) == 1000                      # 2 title, header, 994 records, blank, 合计, ""
    cells = lines[960].split(",")
    cells[corpus.EXPORT_HEADER.index("小区地址")] = '"' + cells[corpus.EXPORT_HEADER.index("小区地址")]
    lines[960] = ",".join(cells)
    path.write_bytes("\r\n".join(lines).encode("utf-8"))
    with pytest.raises(InputFileError, match=r"line 961: the quote \(\"\) that opens column F "
                                             r"\(小区地址\) is never closed.*swallows 36 line\(s\) .*合计"):
        read_table(path, "export")


def test_the_stray_cell_corpus_file_is_small(tmp_path):
    case = next(c for c in corpus.CASES if c.id == "xlsx_stray_far_cell")
    case.build(tmp_path / "landing")
    assert corpus.export_path(tmp_path / "landing").stat().st_size < 20_000


# --------------------------------------------------------------------------- make run

def test_the_products_error_is_found_in_an_airflow_log():
    from supervision.make_run import first_error

    log = "\n".join([
        "[2026-12-01T21:00:00.000+0000] {taskinstance.py:1} INFO - Running ingest",
        "Traceback (most recent call last):",
        '  File "/x/airflow/sdk/execution_time/task_runner.py", line 900, in run',
        "supervision.errors.InputFileError: /l/exports/a_2020-07-01.csv: line 8: the quote (\") "
        "that opens column F (小区地址) is never closed",
        "airflow.sdk.exceptions.AirflowFailException: /l/exports/a_2020-07-01.csv: line 8: …",
        "sqlalchemy.exc.IntegrityError: (sqlite3.IntegrityError) FOREIGN KEY constraint failed",
    ])
    assert first_error(log) == ("/l/exports/a_2020-07-01.csv: line 8: the quote (\") that opens "
                                "column F (小区地址) is never closed")
    assert first_error("INFO all good\n") is None


def _run_month(tmp_path, env: dict[str, str]) -> subprocess.CompletedProcess:
    landing = tmp_path / "landing"
    landing.mkdir(exist_ok=True)
    full = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "PYTHONPATH": str(ROOT / "plugins"), **env}
    full["PATH"] = f"{ROOT / '.venv' / 'bin'}:{full['PATH']}"
    return subprocess.run([str(ROOT / "scripts" / "run_month.sh"), "2020-06", str(landing),
                           str(tmp_path / "out")], env=full, capture_output=True, text=True,
                          timeout=120)


def test_make_run_does_not_send_over_smtp_without_a_named_approver(tmp_path):
    done = _run_month(tmp_path, {"SUPERVISION_DELIVERY": "smtp", "APPROVED_BY": ""})
    assert done.returncode == 2
    assert done.stderr.splitlines()[0].startswith("refused: SUPERVISION_DELIVERY=smtp would mail")
    assert "APPROVED_BY=<name>" in done.stderr


def test_a_second_concurrent_make_run_is_refused(tmp_path):
    home = tmp_path / "airflow"
    home.mkdir()
    with open(home / "run_month.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("month 2020-06, pid 1, started now\n")
        held.flush()
        done = _run_month(tmp_path, {"SEND": "no"})
    assert done.returncode == 3
    assert done.stderr.startswith(f"refused: another make run is in progress on {home}")


def test_the_approver_named_for_smtp_is_recorded(tmp_path, monkeypatch):
    from supervision import approvals, warehouse
    from supervision.make_run import approve

    url = f"sqlite:///{tmp_path / 'w.db'}"
    monkeypatch.setenv("SUPERVISION_WAREHOUSE_URL", url)
    assert "approved by 王伟" in approve("2020-06", " 王伟 ", "make-run:2020-06:t")
    (row,) = approvals.decisions(warehouse.connect(url), "2020-06")
    assert (row["decision"], row["decided_by"], row["run_id"]) == ("approved", "王伟", "make-run:2020-06:t")


def test_a_table_written_column_by_column_is_the_table_written_row_by_row(tmp_path):
    """outputs.write_csv_columns makes each distinct cell safe once (issue 17): the same bytes as
    write_csv, also for cells equal to each other but written differently (0.0 and -0.0, 1 and
    1.0 and True), NaN, and a cell that cannot be hashed."""
    columns = [["=1+1", "=1+1", "长沙市", None, "\r x", float("nan"), "@A", "=1+1"],
               [0.0, -0.0, 0.0, -0.0, 1, 1.0, True, float("nan")],
               [["a"], ["a"], 3, 3, "", " ", "-", "+1"]]
    rows = list(zip(*columns))
    by_rows = outputs.write_csv(tmp_path / "rows.csv", ["甲", "乙", "丙"], rows)
    by_columns = outputs.write_csv_columns(tmp_path / "columns.csv", ["甲", "乙", "丙"], columns)
    assert by_columns.read_bytes() == by_rows.read_bytes()
    assert outputs.per_distinct(repr, [0.0, -0.0, 0.0, 1, True, 1.0]) == [
        "0.0", "-0.0", "0.0", "1", "True", "1.0"]


_CELLS = st.one_of(st.none(), st.text(max_size=3), st.integers(-3, 3), st.booleans(),
                   st.floats(allow_nan=True, allow_infinity=True, width=16),
                   st.sampled_from([0.0, -0.0, 1.0, float("nan")]))


@given(st.one_of(st.lists(_CELLS, max_size=30),                          # mixed types
                 st.lists(st.one_of(st.none(), st.text(max_size=2)), max_size=30),   # one type
                 st.lists(st.one_of(st.none(), st.floats(width=16)), max_size=30),
                 st.lists(st.sampled_from([0.0, -0.0, 2.5, None]), max_size=30),
                 st.lists(st.one_of(st.none(), st.integers(-2, 2)), max_size=30)))
@example([0.0, -0.0, None, 0.0])
@example([1, 1.0, True])
@example([Decimal("0"), Decimal("-0"), None])
@example([np.float64(0.0), np.float64(-0.0)])
def test_per_distinct_is_the_cell_by_cell_map(cells):
    """outputs.per_distinct, also on its one-dict path for a column of one type: exactly
    ``[fn(v) for v in cells]`` (1 and 1.0 and True, 0.0 and -0.0 kept apart)."""
    assert outputs.per_distinct(repr, cells) == [repr(v) for v in cells]


def test_per_distinct_calls_once_per_distinct_cell_of_one_type():
    calls = []
    cells = ["甲", "乙", None, "甲", None, "乙"] * 1000
    assert outputs.per_distinct(lambda v: calls.append(v) or v, cells) == cells
    assert len(calls) == 3 and set(calls) == {"甲", "乙", None}
