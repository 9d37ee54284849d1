"""N8's second half: the inspectors' findings file read back, compared with what the month's
counted records reported, stored, and the falsification bulletin circulated once per recipient.

The "done when" of issue 16: a month's spot_checks.xlsx filled by hand with two falsified
statuses, one overstated investment, one unchecked row and the rest as reported gives exactly
those 结论, a bulletin naming the three communities, and its mails once (aiosmtpd)."""
from __future__ import annotations

import json

import re
import smtplib
import subprocess
from collections import Counter
from datetime import date
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest

from supervision import delivery, documents
from supervision import warehouse as wh
from supervision.config import load_programme
from supervision.errors import InputFileError
from supervision.findings import (CONSISTENT, DOCUMENT, INVESTMENT_OVERSTATED, NOT_CHECKED,
                                  STATUS_FALSIFIED, stage)
from supervision.findings import bulletin as fb
from supervision.findings.compare import Tolerance, conclude, tolerance
from supervision.findings.reader import FindingsFileError
from supervision.months import Month
from tests.fixtures import findings as ff

SENDER = "renovation-supervision@example.gov.cn"
PHONE = re.compile(r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}")
EMPTY = dict.fromkeys(ff.FILL_IN)


# --------------------------------------------------------------------------- the rule

def test_conclusions():
    t = Tolerance()
    assert conclude("已开工", "未开工", 0, 0, True, t) == (STATUS_FALSIFIED, False)
    assert conclude("已完工", "未开工", 0, 0, True, t) == (STATUS_FALSIFIED, False)
    assert conclude("已完工", "已开工", 0, 0, True, t) == (STATUS_FALSIFIED, False)
    assert conclude("未开工", "已开工", 0, 0, True, t) == (CONSISTENT, False)   # ahead is no lie
    assert conclude("已开工", "已开工", 10_000, 0, True, t) == (CONSISTENT, False)  # exactly 1 万元
    assert conclude("已开工", "已开工", 10_001, 0, True, t) == (INVESTMENT_OVERSTATED, True)
    # 5 % of the verified amount once that is more than 1 万元: 100 万元 verified, 105 万元 allowed
    assert conclude("已开工", "已开工", 1_050_000, 1_000_000, True, t) == (CONSISTENT, False)
    assert conclude("已开工", "已开工", 1_050_001, 1_000_000, True, t) == (INVESTMENT_OVERSTATED, True)
    assert conclude("已开工", "已开工", 100, 5_000_000, True, t) == (CONSISTENT, False)
    assert conclude("已开工", "未开工", 500_000, 0, True, t) == (STATUS_FALSIFIED, True)
    assert conclude("已开工", None, 500_000, None, False, t) == (NOT_CHECKED, False)
    assert conclude("已开工", "已开工", 500_000, None, True, t) == (CONSISTENT, False)


def test_the_tolerance_is_configured_per_programme():
    assert tolerance(load_programme(2020)) == Tolerance(Fraction(1), Fraction(5, 100))


def test_bulletin_dates_are_working_days():
    # 2020-07-10 is a Friday: issued Monday 13 July; 10 working days later is 27 July
    frame = pd.DataFrame({"checked_on": ["2020-07-08", "2020-07-10", None]})
    assert fb.issue_date(frame) == date(2020, 7, 13)
    assert fb.add_workdays(date(2020, 7, 13), 10) == date(2020, 7, 27)
    # over the National Day holiday (1–8 October 2020, 10 October a 调休 working Saturday)
    assert fb.add_workdays(date(2020, 9, 30), 1) == date(2020, 10, 9)
    assert fb.title_lines(["长沙市", "株洲市"])[0] == "关于长沙市、株洲市城镇老旧小区改造"
    assert fb.title_lines(["长沙市", "株洲市", "湘潭市", "衡阳市"])[0] == "关于长沙市等4个市州城镇老旧小区改造"


# --------------------------------------------------------------------------- a month's findings

@pytest.fixture()
def s(rendered_june, tmp_path):
    return ff.own_copy(rendered_june, tmp_path)


def _rows(s):
    wb, _, col, rows = ff.sample_rows(s)
    ws = wb.active
    return [{h: ws.cell(r, col[h]).value for h in ("市州", "项目编号", "小区名称", "改造状态",
                                                    "累计完成投资(万元)")} for r in rows]


def hand_filled(s):
    """Two falsified statuses, one overstated investment, one unchecked row, the rest as
    reported; returns the file and {项目编号: expected 结论}."""
    rows = _rows(s)
    started = [i for i, r in enumerate(rows) if r["改造状态"] in ("已开工", "已完工")]
    big = [i for i in started if float(rows[i]["累计完成投资(万元)"]) > 30]
    overstated = big[0]
    status = [i for i in started if i != overstated][:2]
    unchecked = next(i for i in range(len(rows)) if i not in status + [overstated])
    edits = {status[0]: {"核实改造状态": "未开工", "核实结论": "现场未见施工"},
             status[1]: {"核实改造状态": "未开工", "核实结论": "尚未进场"},
             overstated: {"核实累计完成投资(万元)": round(float(rows[overstated]["累计完成投资(万元)"]) - 25, 2),
                          "核实结论": "完成投资与台账不符"},
             unchecked: EMPTY}
    # an inspector's full-width digits and spaces are read as written
    rest = next(i for i in range(len(rows)) if i not in edits)
    wide = str(rows[rest]["累计完成投资(万元)"]).translate(str.maketrans("0123456789.", "０１２３４５６７８９．"))
    edits[rest] = {"核实累计完成投资(万元)": wide, "核实改造状态": f"\u3000{rows[rest]['改造状态']}\u3000"}
    path = ff.fill(s, edits)
    expected = {r["项目编号"]: CONSISTENT for r in rows}
    expected.update({rows[status[0]]["项目编号"]: STATUS_FALSIFIED,
                     rows[status[1]]["项目编号"]: STATUS_FALSIFIED,
                     rows[overstated]["项目编号"]: INVESTMENT_OVERSTATED,
                     rows[unchecked]["项目编号"]: NOT_CHECKED})
    names = [rows[i]["小区名称"] for i in (*status, overstated)]
    return path, expected, names


def smtp_transport(server) -> delivery.SmtpTransport:
    return delivery.SmtpTransport(lambda: smtplib.SMTP("127.0.0.1", server.port, timeout=10), SENDER)


def test_done_when_hand_filled_findings_give_exactly_those_conclusions_a_bulletin_and_mails_once(
        s, smtp_server):
    month_folder = Path(s.output_dir) / s.month
    published = {p: p.read_bytes() for p in month_folder.rglob("*") if p.is_file()}
    path, expected, names = hand_filled(s)

    summary = stage.process(s)
    got = pd.read_csv(stage.output_dir(s) / "findings.csv", dtype=str, encoding="utf-8-sig")
    assert {"项目编号", "市州", "所在县市区", "小区名称", "报送改造状态", "核实改造状态", "报送累计完成投资",
            "核实累计完成投资", "结论", "核查人", "核查日期"} <= set(got.columns)
    assert dict(zip(got.项目编号, got.结论)) == expected
    assert Counter(got.结论) == Counter({CONSISTENT: len(expected) - 4, STATUS_FALSIFIED: 2,
                                        INVESTMENT_OVERSTATED: 1, NOT_CHECKED: 1})
    assert summary["bulletin"] and summary[STATUS_FALSIFIED] == 2
    unchecked = got[got.结论 == NOT_CHECKED].iloc[0]
    assert pd.isna(unchecked.核实改造状态) and pd.isna(unchecked.核查人)

    # stored per month in the warehouse
    engine = wh.connect(s.warehouse_url)
    stored = wh.read_month(engine, "spot_check_findings", s.month)
    assert dict(zip(stored.project_id, stored.conclusion)) == expected
    # the steward's note counts per city
    note = stage.note(s)
    assert "| 合计 | %d |" % len(expected) in note and "改造状态不实" in note

    # the bulletin names the three communities, their cities and officers, no phone number
    html = (stage.output_dir(s) / "falsification_bulletin.html").read_text("utf-8")
    text = subprocess.run(["pdftotext", "-layout", str(stage.output_dir(s) / "falsification_bulletin.pdf"),
                           "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s+", "", text)
    for name in names:
        assert name in html and name in flat
    assert "信息报送弄虚作假情况的通报" in flat and "抄送：各市州人民政府" in flat
    falsified = stored[stored.conclusion.isin([STATUS_FALSIFIED, INVESTMENT_OVERSTATED])]
    for officer in falsified.impl_officer:
        assert officer in html
    assert not PHONE.search(html) and not PHONE.search(text)
    assert "个工作日内" in flat

    # the month's published files are not changed; its manifest only gains the findings' files
    manifest = month_folder / "manifest.json"
    assert {p: p.read_bytes() for p in month_folder.rglob("*") if p.is_file() and p != manifest
            and stage.output_dir(s) not in p.parents} == {
                p: b for p, b in published.items() if p != manifest}
    before, after = json.loads(published[manifest]), json.loads(manifest.read_text("utf-8"))
    assert {k: v for k, v in after.items() if k != "attached"} == {
        k: v for k, v in before.items() if k != "attached"}
    assert after["attached"].get("sent") == before.get("attached", {}).get("sent")
    listed = {f["path"] for f in after["attached"]["spot_checks"]}
    assert "spot_checks/findings.csv" in listed and "spot_checks/falsification_bulletin.pdf" in listed

    # circulated once per recipient, to every city (主送 three departments, 抄送 the government)
    first = stage.send(s, smtp_transport(smtp_server))
    recipients = delivery.read_recipients(Path(s.inputs_dir) / "recipients.csv")
    assert first["recipients_sent"] == len(recipients) == 56
    again = stage.send(s, smtp_transport(smtp_server))
    assert again["recipients_sent"] == 0 and again["recipients_skipped"] == 56
    got_mail = smtp_server.deliveries()
    assert set(got_mail) == {(DOCUMENT, r.email) for r in recipients}
    assert set(got_mail.values()) == {1}
    _, message = smtp_server.received[0]
    assert message["Subject"].endswith("信息报送弄虚作假情况的通报")
    assert [p.get_filename() for p in message.iter_attachments()] == ["falsification_bulletin.pdf"]
    assert {r["document"] for r in delivery.ledger_rows(engine, s.month)} == {DOCUMENT}

    # a rerun replaces the month's findings with the same bytes
    before = {p.name: p.read_bytes() for p in stage.output_dir(s).iterdir()}
    stage.process(s)
    assert {p.name: p.read_bytes() for p in stage.output_dir(s).iterdir()} == before


def test_a_month_without_falsification_writes_findings_and_sends_nothing(s):
    ff.fill(s, {0: EMPTY})
    summary = stage.process(s)
    assert not summary["bulletin"] and summary[NOT_CHECKED] == 1
    assert not (stage.output_dir(s) / "falsification_bulletin.pdf").exists()
    assert "未发现弄虚作假" in stage.note(s)
    assert stage.send(s)["sent"] is False
    assert not delivery.ledger_rows(wh.connect(s.warehouse_url), s.month)


def test_the_next_monthly_bulletin_mentions_the_falsification_bulletin(s):
    path, _, _ = hand_filled(s)
    stage.process(s)
    engine = wh.connect(s.warehouse_url)
    july = Month(2020, 7)
    mentioned = stage.circulated_before(engine, july, date(2020, 8, 3), date(2020, 7, 2))
    assert len(mentioned) == 1 and mentioned[0]["issued_zh"] == "2020年7月13日"
    assert stage.circulated_before(engine, Month(2020, 8), date(2020, 9, 2), date(2020, 8, 3)) == []
    from supervision import pipeline

    inputs = pipeline.document_inputs(engine, Month(2020, 6))   # June's own bulletin: before it
    assert inputs["falsification"] == []
    ctx = {**inputs, "falsification": mentioned}
    html = documents.monthly_bulletin(ctx["programme"], ctx["month"], ctx["figures"],
                                      ctx["snapshot"], ctx["published"], ctx["warnings"],
                                      ctx["falsification"])
    cities = "、".join(mentioned[0]["cities"])
    assert f"2020年7月13日，已印发《{mentioned[0]['title']}》，对{cities}2020年6月报送信息弄虚作假的问题予以通报" in html


# --------------------------------------------------------------------------- bad input

def _refused(s, match: str):
    with pytest.raises(InputFileError) as err:
        stage.process(s)
    message = str(err.value)
    assert re.search(match, message), message
    assert not stage.output_dir(s).exists()                       # nothing written
    assert wh.read_month(wh.connect(s.warehouse_url), "spot_check_findings", s.month).empty
    return message


def test_an_unknown_project_id_is_refused_naming_the_row(s):
    path = ff.fill(s, {2: {"核实结论": "x"}})
    wb, _, col, rows = ff.sample_rows(s)
    import openpyxl
    wb = openpyxl.load_workbook(path)
    wb.active.cell(rows[2], col["项目编号"]).value = "HN209999999"
    wb.save(path)
    message = _refused(s, rf"row {rows[2]}, column 项目编号: HN209999999 is not in the spot-check sample of 2020-06")
    assert str(path) in message


def test_a_status_outside_the_allowed_set_is_refused(s):
    _, _, _, rows = ff.sample_rows(s)
    ff.fill(s, {1: {"核实改造状态": "基本完工"}})
    _refused(s, rf"row {rows[1]}, column 核实改造状态: '基本完工' is not one of 未开工/已开工/已完工")


def test_unreadable_money_is_refused(s):
    _, _, _, rows = ff.sample_rows(s)
    ff.fill(s, {3: {"核实累计完成投资(万元)": "约二十万"}})
    _refused(s, rf"row {rows[3]}, column 核实累计完成投资\(万元\): unreadable money '约二十万'")


def test_a_duplicated_row_is_refused(s):
    path = ff.fill(s)
    import openpyxl
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    _, _, _, rows = ff.sample_rows(s)
    ws.insert_rows(rows[0] + 1)
    for c in range(1, ws.max_column + 1):
        ws.cell(rows[0] + 1, c).value = ws.cell(rows[0], c).value
    wb.save(path)
    _refused(s, rf"row {rows[0] + 1}, column 项目编号: HN\d+ is listed twice \(rows {rows[0]} and {rows[0] + 1}\)")


def test_findings_of_a_month_never_run_are_refused(s):
    import dataclasses
    import shutil

    july = dataclasses.replace(s, report_month=Month(2020, 7))
    june_file = ff.fill(s)
    shutil.copy(june_file, june_file.with_name("2020-07.xlsx"))
    with pytest.raises(InputFileError, match=r"2020-07.xlsx: data month 2020-07 was never run"):
        stage.process(july)
    assert not stage.output_dir(july).exists()
    with pytest.raises(InputFileError, match=r"2020-08.xlsx: file not found"):
        stage.process(dataclasses.replace(s, report_month=Month(2020, 8)))


def test_every_problem_is_listed_and_the_landing_watch_sees_new_files(s):
    _, _, _, rows = ff.sample_rows(s)
    ff.fill(s, {0: {"核实改造状态": "?"}, 4: {"核查日期": "七月"}, 5: {"核查人": None}})
    with pytest.raises(FindingsFileError) as err:
        stage.process(s)
    assert len(err.value.problems) == 3
    assert f"row {rows[4]}, column 核查日期: unreadable date '七月'" in str(err.value)
    assert f"row {rows[5]}, column 核查人: empty in a checked row" in str(err.value)
    assert stage.pending_months(s.inputs_dir, s.warehouse_url) == ["2020-06"]      # refused: still pending
    ff.fill(s)
    stage.process(s)
    assert stage.pending_months(s.inputs_dir, s.warehouse_url) == []
    ff.fill(s, {0: EMPTY})                              # a corrected file: pending again
    assert stage.pending_months(s.inputs_dir, s.warehouse_url) == ["2020-06"]


def test_the_quality_stages_signals_stand_beside_the_falsified_community(s):
    rows = _rows(s)
    i = next(i for i, r in enumerate(rows) if r["改造状态"] == "已开工")
    pid = rows[i]["项目编号"]
    engine = wh.connect(s.warehouse_url)
    with engine.begin() as conn:
        seq = conn.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM quality_findings").scalar()
        wh.insert(conn, "quality_findings", [
            {"report_month": s.month, "seq": seq + 1, "source_row": 9, "project_id": pid,
             "city": rows[i]["市州"], "rule_id": "INVEST_BACKWARDS", "severity": "warning",
             "field": "累计完成投资", "value": "10.00万元（上月：12.00万元）"}])
    ff.fill(s, {i: {"核实改造状态": "未开工"}})
    stage.process(s)
    stored = wh.read_month(engine, "spot_check_findings", s.month).set_index("project_id")
    assert stored.at[pid, "signals"] == "累计完成投资较上月减少（10.00万元（上月：12.00万元））"
    html = (stage.output_dir(s) / "falsification_bulletin.html").read_text("utf-8")
    assert "系统数据检查同时发现：累计完成投资较上月减少" in html


def test_a_csv_findings_file_with_a_title_row_and_full_width_headers(s):
    """The same readers as for exports: a title above the header, （万元） written full-width."""
    import csv

    rows = _rows(s)
    path = Path(s.inputs_dir) / "spot_checks" / f"{s.month}.csv"
    path.parent.mkdir(exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["2020年6月现场抽查核实表（长沙市）"])
        w.writerow(["项目编号", "小区名称", "核实改造状态", "核实累计完成投资（万元）", "核实结论", "核查人", "核查日期"])
        for i, r in enumerate(rows[:3]):
            status = "未开工" if i == 0 else r["改造状态"]
            w.writerow([r["项目编号"], r["小区名称"], status, r["累计完成投资(万元)"], "", "李核查", "2020年7月9日"])
    summary = stage.process(s)
    assert summary["findings_file"] == f"{s.month}.csv"
    assert summary[NOT_CHECKED] == len(rows) - 3     # sampled records not returned: not checked
    assert summary[STATUS_FALSIFIED] == (1 if rows[0]["改造状态"] != "未开工" else 0)
    stored = wh.read_month(wh.connect(s.warehouse_url), "spot_check_findings", s.month)
    assert set(stored[stored.inspector.notna()].checked_on) == {"2020-07-09"}
