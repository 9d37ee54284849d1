"""Ingestion of real export files: the corpus of malformed and awkward inputs
(``tests/fixtures/corpus.py``) through the real ingest and quality stages, each file with its
expected outcome — read correctly, quarantined with named rules, or refused with a message that
names the cause — and the typed frames the stages hand on."""
from __future__ import annotations

import csv
import json
import re

import pandas as pd
import pytest

from supervision import pipeline
from supervision.config import load_province
from supervision.errors import InputFileError, LandingError
from supervision.ingest import EXPORT_COLUMNS, load_export, load_plan, load_targets, plan_key
from supervision.landing import Snapshot
from supervision.quality import load_rules
from supervision.settings import RunSettings
from tests.fixtures import corpus
from tests.fixtures.corpus import CASES, MONTH, Outcome

BLOCKING = {r.id for r in load_rules().rules.values() if r.blocking}


def _csv(path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _settings(tmp_path, monkeypatch, landing) -> RunSettings:
    monkeypatch.setenv("SUPERVISION_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    # the corpus's landing areas have no recipients.csv: runs that send nothing
    return RunSettings.resolve({"report_month": MONTH, "inputs_dir": str(landing),
                                "output_dir": str(tmp_path / "out"), "send": False})


def run_case(case, tmp_path, monkeypatch) -> tuple[dict, Outcome]:
    landing = tmp_path / "landing"
    case.build(landing)
    s = _settings(tmp_path, monkeypatch, landing)
    pipeline.ingest(s)
    frame = pd.read_parquet(pipeline.work_dir(s) / "export.parquet")
    meta = json.loads((pipeline.work_dir(s) / "landing.json").read_text("utf-8"))
    summary = pipeline.check_quality(s)
    staging = s.output_dir / ".staging" / MONTH
    return summary, Outcome(frame, meta, _csv(staging / "quality" / "findings.csv"),
                            _csv(staging / "quarantine.csv"))


#: rule ids produced by the corpus, collected for the coverage test below
_SEEN: set[str] = set()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus_file_gives_its_expected_outcome(case, tmp_path, monkeypatch):
    expect = case.expect
    if expect.outcome == "refuse":
        landing = tmp_path / "landing"
        case.build(landing)
        s = _settings(tmp_path, monkeypatch, landing)
        with pytest.raises((InputFileError, LandingError)) as info:
            pipeline.ingest(s)
        assert re.search(expect.error, str(info.value)), str(info.value)
        # refused before anything is staged or published
        assert not (s.output_dir / MONTH).exists()
        assert not pipeline.work_dir(s).exists()
        return
    summary, outcome = run_case(case, tmp_path, monkeypatch)
    assert summary["rows_read"] == expect.rows_read == len(outcome.frame)
    assert summary["rows_read"] == summary["rows_accepted"] + summary["rows_quarantined"]
    by_row: dict[int, set[str]] = {}
    other: set[str] = set()
    for f in outcome.findings:
        _SEEN.add(f["规则编号"])
        if f["源文件行号"]:
            by_row.setdefault(int(f["源文件行号"]), set()).add(f["规则编号"])
        else:
            other.add(f["规则编号"])
    assert by_row == expect.findings
    assert other == expect.other_rules
    quarantined = {int(q["源文件行号"]): set(q["规则编号"].split(",")) for q in outcome.quarantine}
    expected_q = {row: rules & BLOCKING for row, rules in expect.findings.items() if rules & BLOCKING}
    assert quarantined == expected_q
    assert summary["rows_quarantined"] == len(expected_q)
    if expect.outcome == "read":
        assert not expect.findings and not expect.other_rules
    if expect.check:
        expect.check(outcome)


def test_the_corpus_has_every_kind_of_file_and_enough_of_them():
    assert len(CASES) >= 30
    outcomes = {c.expect.outcome for c in CASES}
    assert outcomes == {"read", "quarantine", "refuse"}
    assert len({c.id for c in CASES}) == len(CASES)


def test_every_quality_rule_is_produced_by_the_corpus():
    """Each rule of quality_rules.yaml fires on at least one corpus file (so none is dead).
    Runs after the corpus (pytest keeps file order); alone, it checks the expectations."""
    expected = set()
    for c in CASES:
        for rules in c.expect.findings.values():
            expected |= rules
        expected |= c.expect.other_rules
    assert expected == set(load_rules().rules), set(load_rules().rules) - expected
    if _SEEN:
        assert _SEEN == set(load_rules().rules), set(load_rules().rules) - _SEEN


# --------------------------------------------------------------------------- the typed frames

@pytest.fixture()
def small_landing(tmp_path):
    landing = tmp_path / "landing"
    corpus.base_landing(landing)
    corpus._xlsx_export(landing)
    return landing


def test_export_frame_has_the_warehouse_columns_and_types(small_landing):
    province = load_province("hunan")
    path = small_landing / "exports" / f"{corpus.EXPORT_NAME}.xlsx"
    export = load_export(Snapshot(path, pd.Timestamp(corpus.SNAPSHOT).date()), province,
                         ["长沙市", "株洲市", "湘西自治州"])
    f = export.frame
    assert list(f.columns) == EXPORT_COLUMNS
    row = f[f.project_id == "HN202000003"].iloc[0]
    assert row.planned_invest_yuan == 600000 and row.done_invest_yuan == 600000
    assert (row.start_date, row.finish_date) == ("2020-05-06", "2020-06-25")
    assert row.reported_at == "2020-06-23 10:00:00" and row.reported_date == "2020-06-23"
    assert row.plan_key == plan_key("长沙市", "岳麓区", "解放路12号院")
    assert json.loads(export.raw_lines(f.project_id == "HN202000003")[0])["小区名称"] == "解放路12号院"
    assert f.unreadable.isna().all()
    assert export.meta()["summary_checks"][0] == {"row": 11, "field": "记录数", "stated": "6",
                                                  "computed": "6", "ok": True, "unreadable": 0}


def test_unreadable_cells_keep_what_was_written(tmp_path):
    landing = tmp_path / "landing"
    corpus.base_landing(landing)
    corpus._xlsx_export(landing, corpus._records(HN202000001={"开工日期": "2020-06-31",
                                                              "计划总投资(万元)": "约100"}))
    path = landing / "exports" / f"{corpus.EXPORT_NAME}.xlsx"
    f = load_export(Snapshot(path, pd.Timestamp(corpus.SNAPSHOT).date()), load_province("hunan")).frame
    row = f[f.project_id == "HN202000001"].iloc[0]
    assert json.loads(row.unreadable) == {"planned_invest": "约100", "start_date": "2020-06-31"}
    assert pd.isna(row.start_date) and pd.isna(row.planned_invest_yuan)


def test_plan_splits_person_and_phone_and_keeps_the_plan_spelling(small_landing):
    province = load_province("hunan")
    targets = load_targets(small_landing / "targets" / "2020.csv", province)
    assert list(targets.frame.city) == ["长沙市", "株洲市", "湘西自治州"]  # administrative order
    plan = load_plan(small_landing / "plan" / "2020.xlsx", province, list(targets.frame.city))
    p = plan.frame.set_index("name")
    assert (p.loc["粮食局宿舍", "impl_officer"], p.loc["粮食局宿舍", "impl_phone"]) == ("王伟", "13812345678")
    assert (p.loc["粮食局宿舍", "sup_officer"], p.loc["粮食局宿舍", "sup_phone"]) == ("李娜", "0731-88950212")
    assert p.loc["人民新村", "built_year"] == 1988 and p.loc["人民新村", "source_row"] == 7
    assert plan.table.header_row == 5 and {s.reason for s in plan.table.skipped} == {"title", "note"}


def test_the_parsed_plan_is_reused_only_for_the_same_file_and_code(sample_landing, tmp_path,
                                                                   monkeypatch):
    import shutil

    from supervision.config import load_province
    from supervision.ingest import CachedPlan, Plan, load_plan, load_plan_cached

    province = load_province("hunan")
    cities = province.city_names
    plan_path = tmp_path / "2020.xlsx"
    shutil.copy(sample_landing / "plan" / "2020.xlsx", plan_path)
    cache = tmp_path / "cache"
    first = load_plan_cached(plan_path, province, cities, cache)
    again = load_plan_cached(plan_path, province, cities, cache)
    assert isinstance(first, Plan) and isinstance(again, CachedPlan)
    pd.testing.assert_frame_equal(again.frame, load_plan(plan_path, province, cities).frame)
    assert (again.sha256, again.name, again.meta()) == (first.sha256, first.name, first.meta())
    # what the ingest task stages: the cache entry copied, read back as the parsed frame
    assert again.rows == first.rows == len(first.frame)
    first.write_frame(tmp_path / "parsed.parquet")
    again.write_frame(tmp_path / "cached.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "cached.parquet"),
                                  pd.read_parquet(tmp_path / "parsed.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "cached.parquet"), first.frame)
    # other target cities: parsed afresh (and here refused: 湘西自治州 is no longer a target)
    with pytest.raises(InputFileError, match="is not a target city"):
        load_plan_cached(plan_path, province, cities[:-1], cache)
    # other parsing code or configuration: parsed afresh
    import supervision.ingest as ingest_module
    monkeypatch.setattr(ingest_module, "_code_fingerprint", lambda: "changed")
    assert isinstance(load_plan_cached(plan_path, province, cities, cache), Plan)


def test_values_parsed_once_per_distinct_cell_keep_type_apart():
    """_mapped shares one parse among equal cells, but 1, 1.0 and True are different cells
    (equal in Python): True is not a count of one, 1.0 and 1 both are."""
    from supervision import normalize as nz
    from supervision.ingest import _mapped

    calls = []

    def households(v):
        calls.append(v)
        return nz.households(v)

    cells = [1, 1.0, True, "1户", 1, "1户", None, None]
    assert _mapped(households, cells) == [nz.households(v) for v in cells]
    assert _mapped(households, cells)[2] == (None, False)
    assert len(calls) == 2 * 5  # each distinct (type, value) parsed once per call


def _snapshot(landing):
    path = landing / "exports" / f"{corpus.EXPORT_NAME}.xlsx"
    return Snapshot(path, pd.Timestamp(corpus.SNAPSHOT).date())


CITIES = ["长沙市", "株洲市", "湘西自治州"]


def test_a_parsed_snapshot_is_reused_by_the_same_code_and_stages_the_same_files(
        small_landing, tmp_path, monkeypatch):
    """A month's rerun (or make run's prewarm, then its ingest task) parses the snapshot once:
    the second ingest stages byte-identical files without reading the export again."""
    s = _settings(tmp_path, monkeypatch, small_landing)
    pipeline.ingest(s)
    work = pipeline.work_dir(s)
    first = {n: (work / n).read_bytes() for n in ("export.parquet", "landing.json")}
    import supervision.ingest as ingest_module

    def no_parse(*args, **kwargs):
        raise AssertionError("the snapshot was parsed again")

    monkeypatch.setattr(ingest_module, "load_export", no_parse)
    assert pipeline.ingest(s)["rows_read"] == len(corpus.COMMUNITIES)
    assert {n: (work / n).read_bytes() for n in first} == first
    # other parsing code, or another file under the same name: parsed afresh
    monkeypatch.setattr(ingest_module, "_code_fingerprint", lambda: "changed")
    with pytest.raises(AssertionError, match="parsed again"):
        pipeline.ingest(s)


def test_a_refused_snapshot_is_not_cached(tmp_path, monkeypatch):
    """The prewarm of a bad file caches nothing: the run's ingest refuses it again, itself."""
    [case] = [c for c in CASES if c.id == "exported_after_name_date"]  # refused by load_export
    landing = tmp_path / "landing"
    case.build(landing)
    s = _settings(tmp_path, monkeypatch, landing)
    for _ in range(2):
        with pytest.raises((InputFileError, LandingError)):
            pipeline.prewarm(s)
    assert not list(pipeline.cache_dir(s).glob("export-*.parquet"))


def test_two_readers_of_one_snapshot_parse_it_once(small_landing, tmp_path, monkeypatch):
    """make run's prewarm and the ingest task start together: the second waits for the first's
    parse (a lock per cache entry) and reads its result instead of parsing the file again."""
    import threading
    import time

    import supervision.ingest as ingest_module
    from supervision.ingest import CachedExport, load_export_cached

    calls = []
    real = ingest_module.load_export

    def slow_parse(*args, **kwargs):
        calls.append(threading.current_thread().name)
        time.sleep(1.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "load_export", slow_parse)
    cache = tmp_path / "cache"
    results = {}

    def read(name):
        results[name] = load_export_cached(_snapshot(small_landing), load_province("hunan"),
                                           CITIES, cache)

    threads = [threading.Thread(target=read, args=(n,), name=n) for n in ("prewarm", "task")]
    threads[0].start()
    time.sleep(0.2)
    threads[1].start()
    for t in threads:
        t.join(timeout=60)
    assert calls == ["prewarm"]
    assert isinstance(results["task"], CachedExport)
    pd.testing.assert_frame_equal(results["task"].frame.reset_index(drop=True),
                                  results["prewarm"].frame.reset_index(drop=True))
    assert results["task"].meta() == json.loads(json.dumps(results["prewarm"].meta(), default=str))


def test_the_export_cache_keeps_only_the_newest_entries(small_landing, tmp_path):
    from supervision.ingest import EXPORT_CACHE_ENTRIES, load_export_cached

    cache = tmp_path / "cache"
    province = load_province("hunan")
    for n in range(EXPORT_CACHE_ENTRIES + 2):   # each target list is another key
        load_export_cached(_snapshot(small_landing), province, CITIES + [f"市{n}"], cache)
    assert len(list(cache.glob("export-*.parquet"))) == EXPORT_CACHE_ENTRIES
    assert len(list(cache.glob("export-*.json"))) == EXPORT_CACHE_ENTRIES


def test_a_cache_entry_held_elsewhere_runs_while_waiting_once_then_waits(tmp_path):
    """The ingest task imports GX while make run's prewarm holds the entry it waits for; a free
    entry is taken at once, without it."""
    import fcntl
    import threading
    import time

    from supervision import ingest

    calls: list[float] = []
    holder = open(tmp_path / "e.lock", "a")   # another holder: flock conflicts per open file
    fcntl.flock(holder, fcntl.LOCK_EX)
    start = time.monotonic()
    threading.Timer(0.3, lambda: fcntl.flock(holder, fcntl.LOCK_UN)).start()
    with ingest._cache_entry_lock(tmp_path, "e", lambda: calls.append(time.monotonic())):
        entered = time.monotonic()
    assert len(calls) == 1 and calls[0] - start < 0.2 and entered - start >= 0.25
    with ingest._cache_entry_lock(tmp_path, "e", lambda: calls.append(time.monotonic())):
        pass
    assert len(calls) == 1
    holder.close()
