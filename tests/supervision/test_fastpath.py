"""The Arrow fast paths of the cell parsers (``supervision.fastpath``, issue 17). Each one
accepts only cells that the Python parser of ``normalize`` reads in exactly the same way; the
others go through that parser. So: on generated cells, every accepted cell must give the Python
parser's value; the common cells of an export must be accepted (or the fast path would never
run); and ``load_export`` must give the same frame with and without the fast paths, on every
file of the hostile-input corpus and on generated exports of awkward cells."""
from __future__ import annotations

import json
import re
from datetime import date

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervision import fastpath
from supervision import normalize as nz
from supervision.config import load_province
from supervision.errors import InputFileError, LandingError
from supervision.ingest import _mapped, load_export
from supervision.landing import Snapshot, list_snapshots
from tests.fixtures.corpus import CASES
from tests.supervision.test_readers import write_export
# every record of a small file stored as Arrow columns (and split by Arrow), as a national
# export's are
from tests.supervision.test_readers_screen import screen_always  # noqa: F401  (fixture)

# characters around the fast paths' edges: digits of other scripts, spaces of other kinds,
# invisible and control characters, JSON's escapes, units, placeholders' pieces
_ALPHABET = ("0123456789 -.+,:'\"=\\/\t\n\r\x1f\x7f\u00a0\u3000\u200b\ufeff\u2028"
             "０１９．－万元户栋部台年月日时分秒T Ze长沙市红旗公寓、。·（）()〇٣无—NA")
_odd = st.text(alphabet=_ALPHABET, max_size=12)
_number = st.from_regex(r"-?[0-9]{1,16}(\.[0-9]{0,32})?", fullmatch=True)
_moment = st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}", fullmatch=True)
_phone = st.from_regex(r"(1[0-9]{10}|0[0-9]{2,3}-?[0-9]{6,9}|86?1[3-9][0-9]{9})", fullmatch=True)
_name = st.text(alphabet="长沙市红旗公寓张三 ·、。ABab0( )'=-", min_size=1, max_size=8)
_cells = st.lists(st.one_of(_odd, _number, _moment, _phone, _name, st.sampled_from(
    sorted(nz.PLACEHOLDERS)), st.none()), min_size=1, max_size=40)


def _accepted(mask, cells):
    return [c for ok, c in zip(mask, cells) if ok]


@settings(max_examples=300, deadline=None)
@given(cells=_cells)
def test_every_cell_a_fast_path_accepts_reads_as_the_python_parser_reads_it(cells):
    array = pa.array(cells, pa.string())
    for cell in _accepted(fastpath.clean_text(array), cells):
        assert nz.text(cell) == cell
    for read in (nz.households, nz.buildings, nz.elevators):
        ok, values = fastpath.integers(array)
        for cell, value in zip(_accepted(ok, cells), values[ok]):
            assert read(cell) == (value, True), cell
    ok, values = fastpath.areas(array)
    for cell, value in zip(_accepted(ok, cells), values[ok]):
        assert nz.area(cell) == (value, True), cell
        assert repr(nz.area(cell)[0]) == repr(float(value))   # the same float, -0.0 included
    ok, values = fastpath.money_yuan(array)
    for cell, value in zip(_accepted(ok, cells), values[ok]):
        assert nz.money_yuan(cell) == (value, True), cell
    for cell in _accepted(fastpath.datetimes(array), cells):
        moment, ok = nz.parse_datetime(cell)
        assert ok and moment.isoformat(sep=" ") == cell
    for cell in _accepted(fastpath.phones(array), cells):
        assert nz.phone(cell) == cell
    for cell in _accepted(fastpath.names_without_digits(array), cells):
        assert nz.split_person_phone(cell) == (cell, None)
    clean, keys = fastpath.keys(array)
    for cell, key in zip(_accepted(clean, cells), _accepted(clean, keys.to_pylist())):
        assert nz.key(cell) == key
    assert fastpath.text(array, _mapped).to_pylist() == [nz.text(c) for c in cells]
    assert fastpath.per_distinct(array, nz.text).to_pylist() == [nz.text(c) for c in cells]


@settings(max_examples=200, deadline=None)
@given(cells=_cells, header=st.text(alphabet=_ALPHABET, min_size=1, max_size=6))
def test_raw_fragments_are_what_json_dumps_writes(cells, header):
    array = pa.array(cells, pa.string())
    dumps = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731
    fragments = fastpath.raw_fragments(array, header, dumps, lambda v: bool(v.strip()))
    expected = [None if c is None or not c.strip() else json.dumps({header: c}, ensure_ascii=False)[1:-1]
                for c in cells]
    assert fragments.to_pylist() == [None if e is None else ", " + e for e in expected]
    nothing = pa.array([None] * len(cells), pa.string())   # a record may keep no cell at all
    objects = fastpath.join_objects([nothing, fragments, nothing, fragments]).to_pylist()
    assert objects == ["{" + e + ", " + e + "}" if e else "{}" for e in expected]
    assert fastpath.join_objects([nothing]).to_pylist() == ["{}"] * len(cells)


def test_the_common_cells_of_an_export_take_the_fast_paths():
    """The fast paths fire on what a management system writes (else they would cost, not save)."""
    assert fastpath.clean_text(pa.array(["红旗公寓", "雨花区府前路48号", "燃气管道改造、供电线路改造",
                                         "HN202000001", "已开工"])).all()
    assert fastpath.integers(pa.array(["142", "0", "-3"]))[0].all()
    assert fastpath.areas(pa.array(["0.8526", "3"]))[0].all()
    ok, yuan = fastpath.money_yuan(pa.array(["159.27", "0.0", "-0.00005", "12.34565"]))
    assert ok.all() and yuan.tolist() == [1592700, 0, -1, 123457]
    assert fastpath.datetimes(pa.array(["2020-06-08 16:04:31"])).all()
    assert not fastpath.datetimes(pa.array(["2020-02-30 16:04:31", "2020-06-08 24:00:00"])).any()
    assert fastpath.phones(pa.array(["18578817097", "0731-88950212"])).all()
    assert fastpath.names_without_digits(pa.array(["田芳"])).all()


def _frames(snapshot, fast: bool):
    fastpath.ENABLED = fast
    try:
        export = load_export(snapshot, load_province("hunan"))
        raw = export.raw_lines([True] * len(export.frame))   # every row's quarantine line
    except InputFileError as exc:
        return "refused", str(exc)
    finally:
        fastpath.ENABLED = True
    return "read", export.frame, export.summary, export.notes, raw


def _same(snapshot):
    fast, reference = _frames(snapshot, True), _frames(snapshot, False)
    if reference[0] == "refused":
        assert fast == reference
        return None
    assert fast[0] == "read", fast
    pd.testing.assert_frame_equal(fast[1], reference[1])
    assert fast[2:] == reference[2:]
    return fast[1]



@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_corpus_export_parses_the_same_with_and_without_the_fast_paths(case, tmp_path,
                                                                             screen_always):
    landing = tmp_path / "landing"
    case.build(landing)
    try:
        snapshots = list_snapshots(landing)
    except LandingError:
        return                       # a landing area refused before any export is read
    for snapshot in snapshots:
        _same(snapshot)


_FIELD = st.one_of(_odd, _number, _moment, _phone, _name, st.none())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_FIELD, min_size=10, max_size=10), min_size=1, max_size=12),
       as_csv=st.booleans())
def test_generated_exports_parse_the_same_with_and_without_the_fast_paths(tmp_path, screen_always,
                                                                          rows, as_csv):
    header = ["项目编号", "市州", "所在县市区", "小区名称", "涉及户数", "总建筑面积", "计划总投资（万元）",
              "填报时间", "实施责任人", "实施责任人电话"]
    grid = [header] + [[f"P{i}", "长沙市", *r[2:]] for i, r in enumerate(rows)]
    if as_csv:  # a csv cell cannot hold the separator or a line break unquoted: keep it simple
        grid = [[None if c is None else c.replace(",", "，").replace("\n", " ").replace("\r", " ")
                 .replace('"', "“") for c in r] for r in grid]
    else:       # what an xlsx cell cannot hold (openpyxl refuses it)
        grid = [[None if c is None else re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", c)
                 for c in r] for r in grid]
    frame = _same(Snapshot(write_export(tmp_path, grid, as_csv), date(2020, 7, 1)))
    assert frame is None or len(frame) == len(rows)
