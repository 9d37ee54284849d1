"""Corrections of a sent month (issue 15), with hand-made corrections of the export: the month
is run and sent, a record of the June snapshot is edited as the management system would correct
it, and the month is run again. Each scenario runs against the real SMTP test server (aiosmtpd)
and against the outbox.

The scenarios render their documents with a stand-in PDF writer (the HTML bytes, so a changed
document still changes its file) to keep the suite fast on a shared machine; the first scenario
(rank change, SMTP) renders real PDFs with WeasyPrint."""
from __future__ import annotations

import csv
import dataclasses
import email
import json
import logging
import smtplib
from collections import Counter
from email import policy
from pathlib import Path

import pytest

from supervision import approvals, cli, delivery, pipeline, warehouse
from supervision.corrections import versions
from supervision.delivery import DeliveryIncomplete, NotDelivered, OutboxTransport, SmtpTransport
from supervision.months import Month
from supervision.sample_data import generate
from tests.fixtures.runs import month_settings, warehouse_env

MONTH = "2020-06"
SENDER = "renovation-supervision@example.gov.cn"
ALL_RECIPIENTS = 56          # 14 cities × 4 addresses


# --------------------------------------------------------------------------- helpers

@pytest.fixture()
def fast_pdf(monkeypatch):
    """PdfWriter stand-in: writes the HTML's bytes (deterministic, changes with the document)."""
    from supervision import documents

    monkeypatch.setattr(documents.PdfWriter, "__init__", lambda self: None)
    monkeypatch.setattr(documents.PdfWriter, "write",
                        lambda self, html, target: (Path(target).write_bytes(html.encode()), target)[1])


class Month_:
    """A month of a landing area of its own, its warehouse, output folder and mailbox."""

    def __init__(self, tmp: Path, channel: str, server):
        self.landing = tmp / "landing"
        generate(self.landing, last_month=Month.parse(MONTH), export_format="csv")
        self.url = f"sqlite:///{tmp / 'warehouse.db'}"
        with warehouse_env(self.url):
            self.s = month_settings(self.landing, tmp / "out")
        self.channel, self.server = channel, server
        self.export = next((self.landing / "exports").glob("*_2020-07-01.csv"))

    # the month's stages; ``send`` with the channel's transport
    def render(self, send_flag: bool = True) -> dict:
        s = dataclasses.replace(self.s, send=send_flag)
        with warehouse_env(self.url):
            out = {}
            for stage in (pipeline.ingest, pipeline.check_quality, pipeline.compute_figures,
                          pipeline.render_documents):
                out[stage.__name__] = stage(s)
        return out["render_documents"]

    def transport(self):
        if self.channel == "smtp":
            return SmtpTransport(lambda: smtplib.SMTP("127.0.0.1", self.server.port, timeout=10), SENDER)
        return OutboxTransport(self.s.outbox_dir / MONTH)

    def send(self, transport=None, send_flag: bool = True) -> dict:
        s = dataclasses.replace(self.s, send=send_flag)
        with warehouse_env(self.url):
            return pipeline.send(s, transport or self.transport(), SENDER)

    def run(self, send_flag: bool = True) -> tuple[dict, dict]:
        return self.render(send_flag), self.send(send_flag=send_flag)

    # what arrived
    def mails(self) -> list[tuple[list[str], email.message.EmailMessage]]:
        if self.channel == "smtp":
            return list(self.server.received)
        out = []
        folder = self.s.outbox_dir / MONTH
        for p in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
            m = email.message_from_bytes(p.read_bytes(), policy=policy.default)
            rcpts = [a.addr_spec for h in ("To", "Cc") if m[h] for a in m[h].addresses]
            out.append((rcpts, m))
        return out

    # the export, edited as the management system would correct it
    def rows(self) -> tuple[list[list[str]], list[str]]:
        rows = list(csv.reader(self.export.open(encoding="utf-8-sig", newline="")))
        head = next(i for i, r in enumerate(rows) if "项目编号" in r)
        return rows, rows[head]

    def edit(self, project_id: str, **values: str) -> None:
        rows, header = self.rows()
        hit = [r for r in rows if len(r) == len(header) and r[header.index("项目编号")] == project_id]
        assert len(hit) == 1, project_id
        for col, v in values.items():
            hit[0][header.index(col)] = v
        with self.export.open("w", encoding="utf-8-sig", newline="") as f:
            csv.writer(f).writerows(rows)

    def records(self, city: str) -> list[dict[str, str]]:
        rows, header = self.rows()
        return [dict(zip(header, r)) for r in rows
                if len(r) == len(header) and r[header.index("市州")] == city]

    @property
    def folder(self) -> Path:
        return self.s.output_dir / MONTH

    def table(self, name: str, folder: Path | None = None) -> list[dict[str, str]]:
        with ((folder or self.folder) / name).open(encoding="utf-8-sig") as f:
            return list(csv.DictReader(f))

    def engine(self):
        return warehouse.connect(self.url)


@pytest.fixture(params=["smtp", "outbox"])
def m(request, tmp_path, smtp_server):
    return Month_(tmp_path, request.param, smtp_server)


def body(x) -> str:
    return x.get_body(("plain",)).get_content()


def new_mails(m: Month_, before: int):
    return m.mails()[before:]


def erratum_mails(mails):
    return [(r, x) for r, x in mails if x["X-Supervision-Document"].startswith("erratum")]


def assert_once_each(mails, expected: int) -> set[str]:
    got = Counter(a for rcpts, _ in mails for a in rcpts)
    assert set(got.values()) == {1}, got
    assert len(got) == expected
    return set(got)


def raise_investment(m: Month_, city: str, wan: float) -> str:
    """Add ``wan`` 万元 to the 累计完成投资 of a started record of ``city`` with room under its plan."""
    for r in m.records(city):
        if r["改造状态"] in ("已开工", "已完工") and r["累计完成投资(万元)"] and r["计划总投资(万元)"]:
            done, planned = float(r["累计完成投资(万元)"]), float(r["计划总投资(万元)"])
            if planned - done > wan:
                m.edit(r["项目编号"], **{"累计完成投资(万元)": f"{done + wan:.2f}"})
                return r["项目编号"]
    raise AssertionError(f"no record of {city} can take {wan} 万元 more")


def overtake(m: Month_) -> tuple[str, str]:
    """Edit the export so the city ranked 4th passes the one ranked 3rd (investment only)."""
    ranking = {r["排名"]: r for r in m.table("ranking.csv") if r["排名"]}
    third, fourth = ranking["3"], ranking["4"]
    gap = float(third["综合得分"]) - float(fourth["综合得分"])
    wan = (gap + 0.2) / 30 * float(fourth["计划投资额"])        # 30 points per 100 % of investment
    raise_investment(m, fourth["市州"], round(wan + 1, 2))
    return third["市州"], fourth["市州"]


# --------------------------------------------------------------------------- scenarios

def test_a_rank_change_is_listed_sent_once_as_a_correction_and_an_identical_rerun_sends_nothing(m, request):
    if m.channel == "outbox":
        request.getfixturevalue("fast_pdf")
    m.run()
    assert len(m.mails()) == 42 and (m.folder / "sent" / "v1" / "monthly_bulletin.pdf").is_file()
    v1 = m.folder / "sent" / "v1"
    v1_bytes = {p: p.read_bytes() for p in v1.rglob("*") if p.is_file()}
    third, fourth = overtake(m)

    doc = m.render()
    assert doc["correction"]["corrected"] and doc["correction"]["version"] == 2
    changes = m.table("corrections/changes.csv")
    assert list(changes[0]) == ["文件", "市州", "项目", "原值", "更正值"]
    ranks = {(c["市州"], c["原值"], c["更正值"]) for c in changes if c["项目"] == "排名"}
    assert ranks == {(third, "3", "4"), (fourth, "4", "3")}
    # exactly the values that differ from the sent ranking
    old = {r["市州"]: r for r in m.table("ranking.csv", v1)}
    new = {r["市州"]: r for r in m.table("ranking.csv")}
    expected = {(c, k) for c in new for k in new[c] if k != "市州" and new[c][k] != old[c][k]}
    assert {(c["市州"], c["项目"]) for c in changes if c["文件"] == "ranking.csv"} == expected
    assert all(c["文件"] == "ranking.csv" for c in changes)       # overdue list, notices unchanged
    assert (m.folder / "corrections" / "erratum.pdf").is_file()
    if m.channel == "smtp":
        assert (m.folder / "corrections" / "erratum.pdf").read_bytes().startswith(b"%PDF")

    # the steward's request says it is a correction and links changes.csv
    request_text = approvals.request_text(m.s, None, None, None)
    assert "更正" in request_text and "corrections/changes.csv" in request_text

    before = len(m.mails())
    sent = m.send()
    assert sent["summary"].startswith(f"corrected: {len(changes)} values changed since sent on ")
    assert sent["summary"].endswith(f"erratum to {ALL_RECIPIENTS} recipients")
    mails = new_mails(m, before)
    assert len(mails) == 14 and all("更正" in x["Subject"] for _, x in mails)
    assert_once_each(mails, ALL_RECIPIENTS)
    # the erratum with the corrected bulletin and ranking (notices did not change)
    names = {a.get_filename() for _, x in mails for a in x.iter_attachments()}
    assert names == {"erratum.pdf", "monthly_bulletin.pdf", "ranking.xlsx", "mid_year_bulletin.pdf"}
    # the sent version 1 is untouched; version 2 is kept beside it
    assert {p: p.read_bytes() for p in v1.rglob("*") if p.is_file()} == v1_bytes
    assert (m.folder / "sent" / "v2" / "corrections" / "changes.csv").is_file()
    # the ledger carries the version and every attachment's SHA-256
    engine = m.engine()
    docs = {r["document"] for r in delivery.ledger_rows(engine, MONTH)}
    assert "erratum@v2" in docs and "monthly_bulletin" in docs
    with engine.connect() as conn:
        from sqlalchemy import text
        rows = conn.execute(text("SELECT attachment, sha256 FROM delivery_attachments WHERE "
                                 "document = 'erratum@v2'")).fetchall()
    v2 = m.folder / "sent" / "v2"
    assert rows and all(versions.outputs.sha256_file(v2 / a) == h for a, h in rows)
    record = versions.version_row(engine, MONTH, 2)
    assert record["status"] == "sent" and record["summary"] == sent["summary"]
    assert sent["summary"] in cli.summary(m.s.output_dir, MONTH)

    # an identical rerun: nothing new, nothing sent
    doc = m.render()
    assert doc["correction"]["corrected"] is False and not (m.folder / "corrections").exists()
    before = len(m.mails())
    assert m.send()["recipients_sent"] == 0 and len(m.mails()) == before


def test_an_overdue_row_removed_and_one_added(m, fast_pdf):
    m.run()
    overdue = m.table("overdue.csv")
    gone = next(r for r in overdue if r["原因"] == "NOT_REVIEWED" and r["项目编号"])
    m.edit(gone["项目编号"], 审核状态="已审核", 审核时间="2020-06-28 10:00:00")
    listed = {r["项目编号"] for r in overdue}
    city = "长沙市"
    fresh = next(r for r in m.records(city) if r["审核状态"] == "已审核" and r["项目编号"] not in listed)
    m.edit(fresh["项目编号"], 审核状态="待审核", 审核时间="")
    m.render()
    rows = [c for c in m.table("corrections/changes.csv") if c["文件"] == "overdue.csv"]
    assert [(c["市州"], c["原值"], c["更正值"]) for c in rows] == [
        (gone["市州"], "列入清单", "不列入清单"), (city, "不列入清单", "列入清单")]
    assert gone["项目编号"] in rows[0]["项目"] and fresh["项目编号"] in rows[1]["项目"]
    before = len(m.mails())
    m.send()
    mails = erratum_mails(new_mails(m, before))
    # the corrected notices (and their lists) go to their own cities only
    for _, x in mails:
        code = x["X-Supervision-Slug"].rsplit("_", 1)[1]
        assert {a.get_filename() for a in x.iter_attachments()
                if a.get_filename().startswith(tuple("abcdefghijklmnopqrstuvwxyz"))
                and a.get_filename().endswith(".xlsx") and a.get_filename() != "ranking.xlsx"} <= {f"{code}.xlsx"}
    by_city = {x["X-Supervision-Slug"].rsplit("_", 1)[1]: x for _, x in mails}
    changsha = {a.get_filename() for a in by_city["changsha"].iter_attachments()}
    assert {"erratum.pdf", "changsha.pdf", "changsha.xlsx"} <= changsha
    assert_once_each(mails, len({a for r, _ in mails for a in r}))


def test_a_notice_no_longer_needed_then_newly_needed_two_corrections_in_a_row(m, fast_pdf):
    m.run()
    engine = m.engine()
    # 长沙市 is not lagging and has one overdue row: 涉及户数 differs from the plan
    row = next(r for r in m.table("overdue.csv") if r["市州"] == "长沙市")
    assert row["原因"] == "PLAN_MISMATCH" and (m.folder / "notices" / "changsha.pdf").is_file()
    plan = warehouse.frame(engine, "SELECT households FROM plan_communities WHERE city = '长沙市' "
                                   "AND name = :n", n=row["小区名称"])
    m.edit(row["项目编号"], **{"涉及户数(户)": str(int(plan.households.iloc[0]))})

    doc = m.render()
    assert doc["correction"]["version"] == 2
    assert not (m.folder / "notices" / "changsha.pdf").exists()
    changes = m.table("corrections/changes.csv")
    assert ("督办通知", "长沙市", "督办", "不督办") in {(c["文件"], c["市州"], c["原值"], c["更正值"]) for c in changes}
    erratum_html = (m.folder / "corrections" / "erratum.html").read_text("utf-8")
    assert "长沙市不再需要督办" in erratum_html and "予以撤销" in erratum_html
    before = len(m.mails())
    first = m.send()
    mails = erratum_mails(new_mails(m, before))
    cs = [x for _, x in mails if x["X-Supervision-Slug"] == "erratum@v2_changsha"]
    assert len(cs) == 1 and "不再需要督办" in body(cs[0])
    assert {a.get_filename() for a in cs[0].iter_attachments()} == {"erratum.pdf"}   # nothing else changed for it
    assert_once_each(mails, len({a for r, _ in mails for a in r}))

    # a second correction, against version 2: 长沙市 gets an unreviewed record, needs a notice again
    fresh = next(r for r in m.records("长沙市") if r["审核状态"] == "已审核")
    m.edit(fresh["项目编号"], 审核状态="待审核", 审核时间="")
    doc = m.render()
    assert doc["correction"]["version"] == 3 and doc["correction"]["corrects_version"] == 2
    changes = m.table("corrections/changes.csv")
    assert ("督办通知", "长沙市", "不督办", "督办") in {(c["文件"], c["市州"], c["原值"], c["更正值"]) for c in changes}
    before = len(m.mails())
    second = m.send()
    mails = erratum_mails(new_mails(m, before))
    cs = [x for _, x in mails if x["X-Supervision-Slug"] == "erratum@v3_changsha"]
    assert len(cs) == 1 and "需予督办" in body(cs[0])
    assert {"erratum.pdf", "changsha.pdf", "changsha.xlsx"} <= {a.get_filename() for a in cs[0].iter_attachments()}
    assert all(x["X-Supervision-Document"] == "erratum@v3" for _, x in mails)
    assert second["version"] == 3 and first["version"] == 2
    assert [v["version"] for v in versions.versions(engine, MONTH)] == [1, 2, 3]
    assert json.loads((m.folder / "sent" / "versions.json").read_text("utf-8"))[-1]["version"] == 3
    # and an identical rerun after that sends nothing
    m.render()
    before = len(m.mails())
    assert m.send()["recipients_sent"] == 0 and len(m.mails()) == before


def test_a_correction_back_to_the_originally_sent_values(m, fast_pdf):
    m.run()
    original = m.export.read_bytes()
    sent_ranking = m.table("ranking.csv")
    overtake(m)
    m.render()
    m.send()
    v2_changes = m.table("corrections/changes.csv")
    m.export.write_bytes(original)             # the system's value was right after all
    doc = m.render()
    assert doc["correction"]["version"] == 3
    back = m.table("corrections/changes.csv")
    assert {(c["市州"], c["项目"], c["原值"], c["更正值"]) for c in back} == {
        (c["市州"], c["项目"], c["更正值"], c["原值"]) for c in v2_changes}
    assert m.table("ranking.csv") == sent_ranking
    before = len(m.mails())
    result = m.send()
    mails = new_mails(m, before)
    assert result["version"] == 3 and all("更正" in x["Subject"] for _, x in mails)
    assert_once_each(mails, ALL_RECIPIENTS)


class ServerGoneAt:
    """A transport whose server becomes unreachable at the n-th message (the try stops there:
    ``delivery`` stops a try at once when nobody answers)."""

    def __init__(self, transport, gone_at: int):
        self.transport, self.calls, self.gone_at = transport, 0, gone_at
        self.channel = transport.channel

    def send(self, message, recipients):
        self.calls += 1
        if self.calls >= self.gone_at:
            raise NotDelivered("cannot connect to the mail server: ConnectionRefusedError(111)",
                               retryable=True, unreachable=True)
        return self.transport.send(message, recipients)

    def close(self):
        self.transport.close()


def test_a_crash_between_rendering_and_sending_is_finished_by_the_next_run_once(m, fast_pdf):
    m.run()
    overtake(m)
    m.render()                                  # the correction is rendered ...
    before = len(m.mails())
    # ... and the send stops after 4 messages: the server is gone
    with pytest.raises(DeliveryIncomplete):
        m.send(ServerGoneAt(m.transport(), 5))
    assert len(new_mails(m, before)) == 4
    # the next run: rendered again (identical to the version that started going out), sent: the rest
    doc = m.render()
    assert doc["correction"]["corrected"] is False
    result = m.send()
    assert result["version"] == 2 and result["summary"].endswith(f"erratum to {ALL_RECIPIENTS} recipients")
    mails = new_mails(m, before)
    assert len(mails) == 14
    assert_once_each(mails, ALL_RECIPIENTS)
    assert versions.version_row(m.engine(), MONTH, 2)["status"] == "sent"
    # and a crash before anything went: the next run renders and sends the correction, once
    raise_investment(m, "长沙市", 50)
    m.render()
    assert m.render()["correction"]["version"] == 3       # rendered twice, no send in between
    before = len(m.mails())
    m.send()
    assert_once_each(erratum_mails(new_mails(m, before)), ALL_RECIPIENTS)


def test_a_backfill_never_mails_an_erratum_and_a_never_sent_month_is_simply_replaced(m, fast_pdf):
    m.run(send_flag=False)                      # a backfill: nothing sent, no version
    overtake(m)
    doc, sent = m.run(send_flag=False)
    assert doc["correction"] == {"corrected": False, "reason": "never sent"}
    assert not (m.folder / "corrections").exists() and not (m.folder / "sent").exists()
    assert sent["sent"] is False and m.mails() == []
    m.run()                                     # now sent: version 1
    raise_investment(m, "长沙市", 50)
    doc, sent = m.run(send_flag=False)          # a backfill of the corrected month
    assert doc["correction"]["corrected"] and (m.folder / "corrections" / "changes.csv").is_file()
    assert sent["sent"] is False and len(m.mails()) == 42
    assert {r["document"] for r in delivery.ledger_rows(m.engine(), MONTH)} == {
        "monthly_bulletin", "mid_year_bulletin"} | {f"notice:{c}" for c in (
            "changsha", "zhuzhou", "xiangtan", "hengyang", "shaoyang", "yueyang", "changde",
            "zhangjiajie", "yiyang", "chenzhou", "yongzhou", "huaihua", "loudi", "xiangxi")}


def test_a_changed_officer_phone_corrects_only_that_citys_notice_and_stays_out_of_the_erratum(m, fast_pdf, caplog):
    caplog.set_level(logging.INFO, logger="supervision")
    m.run()
    row = next(r for r in m.table("overdue.csv") if r["市州"] == "长沙市")
    m.edit(row["项目编号"], 实施责任人电话="13900001111")
    doc = m.render()
    changes = m.table("corrections/changes.csv")
    assert [(c["文件"], c["市州"], c["更正值"]) for c in changes] == [
        ("notices/changsha.xlsx", "长沙市", "13900001111")]
    # the erratum circulates: it names the change but not the phone
    html = (m.folder / "corrections" / "erratum.html").read_text("utf-8")
    assert "13900001111" not in html and "见更正后的督办通知" in html
    assert doc["correction"]["changes"] == 1
    before = len(m.mails())
    sent = m.send()
    mails = new_mails(m, before)
    assert [x["X-Supervision-Slug"] for _, x in mails] == ["erratum@v2_changsha"]
    assert {a.get_filename() for a in mails[0][1].iter_attachments()} == {
        "erratum.pdf", "changsha.pdf", "changsha.xlsx"}
    assert sent["summary"].endswith("erratum to 4 recipients")
    # the task log says so too
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("supervision.corrections")]
    assert any("1 values changed since version 1 was sent on" in x for x in logged)
    assert any(sent["summary"] in x for x in logged)


def test_a_second_correction_goes_only_to_the_holders_of_what_changed_again(m, fast_pdf):
    m.run()
    overtake(m)
    m.render()
    assert m.send()["summary"].endswith(f"erratum to {ALL_RECIPIENTS} recipients")
    # then only 长沙市's notice list changes: the first erratum every city holds is not a
    # document the new version withdraws
    row = next(r for r in m.table("overdue.csv") if r["市州"] == "长沙市")
    m.edit(row["项目编号"], 实施责任人电话="13900002222")
    assert m.render()["correction"]["version"] == 3
    before = len(m.mails())
    sent = m.send()
    assert [x["X-Supervision-Slug"] for _, x in new_mails(m, before)] == ["erratum@v3_changsha"]
    assert sent["summary"].endswith("erratum to 4 recipients")


def test_make_runs_correction_lines_read_the_folder_without_pandas(tmp_path):
    """`make run`'s summary (supervision.cli summary) ends every run: its lines about versions
    need only the month's folder, and it starts without importing pandas or SQLAlchemy (they
    took 1 s of every `make run`, issue 17)."""
    import subprocess
    import sys

    folder = tmp_path / MONTH
    (folder / "corrections").mkdir(parents=True)
    (folder / "corrections" / "meta.json").write_text(json.dumps(
        {"version": 2, "changes": 3, "sent_on": "2020-07-02", "number": "湘建城函〔2020〕9号"}),
        "utf-8")
    (folder / "sent").mkdir()
    (folder / "sent" / "versions.json").write_text(json.dumps(
        [{"version": 1, "status": "sent", "summary": "version 1 to 56 recipients"}]), "utf-8")
    script = ("import json, sys\n"
              "from supervision.corrections import summary_lines\n"
              "lines = summary_lines(sys.argv[1])\n"
              "print(json.dumps({'lines': lines, 'heavy': [m for m in ('pandas', 'sqlalchemy')"
              " if m in sys.modules]}))\n")
    out = json.loads(subprocess.run([sys.executable, "-c", script, str(folder)], check=True,
                                    capture_output=True, text=True).stdout)
    assert out["heavy"] == []
    assert out["lines"] == [
        f"  correction:     3 values changed since sent on 2020-07-02; erratum 湘建城函〔2020〕9号 "
        f"awaits approval ({folder / 'corrections' / 'changes.csv'})",
        f"  sent versions:  1 in {folder / 'sent'}; v1: version 1 to 56 recipients"]
    # once the correction is sent as version 2, only the versions line remains
    (folder / "sent" / "versions.json").write_text(json.dumps(
        [{"version": 1, "status": "sent"}, {"version": 2, "status": "sent"}]), "utf-8")
    from supervision.corrections import summary_lines
    assert summary_lines(folder) == [f"  sent versions:  2 in {folder / 'sent'}; v2: sent"]
