"""The row screen and the columnar csv store of ``readers`` (issue 17). The screen only chooses
which rows go through ``_classify``, and the store only keeps a csv's records as Arrow columns
instead of Python rows: a table read with them must equal the table read without them, on every
file of the hostile-input corpus and on generated mixes of awkward rows. Both are forced on even
for a handful of rows (the screen from the first row, every csv record stored, blocks of two
records), where they are normally not used."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from supervision import readers
from supervision.errors import InputFileError
from tests.fixtures.corpus import CASES
from tests.supervision.test_readers import HEADER, _xlsx, write_export

KINDS = {"targets": "targets", "plan": "plan", "exports": "export"}


def _read(path, kind, fast: bool):
    readers.SCREEN_ROWS = readers.COLUMNAR_CSV = readers.COLUMNAR_XLSX = fast
    try:
        table = readers.read_table(path, kind)
    except InputFileError as exc:
        return ("refused", str(exc))
    finally:
        readers.SCREEN_ROWS = readers.COLUMNAR_CSV = readers.COLUMNAR_XLSX = True
    columns = {k: table.column(k) for k in table.data}   # Arrow columns as Python values
    blocks = [b for b in table.column_blocks(list(table.data), 3)]
    assert [sum((blk[i] for blk in blocks), []) for i in range(len(table.data))] == \
        list(columns.values()) or not table.rows_read
    return {**dataclasses.asdict(dataclasses.replace(table, data={})), "data": columns}


@pytest.fixture
def screen_always(monkeypatch):
    monkeypatch.setattr(readers, "_SCREEN_MIN_ROWS", 0)
    monkeypatch.setattr(readers, "_ARROW_FROM", 0)
    monkeypatch.setattr(readers, "_BLOCK_ROWS", 2)
    monkeypatch.setattr(readers, "_SPLIT_MIN_CHARS", 0)


def _both(path, kind):
    reference, fast = _read(path, kind, False), _read(path, kind, True)
    assert fast == reference
    return fast


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_corpus_file_reads_the_same_with_the_screen_and_store(case, tmp_path, screen_always):
    landing = tmp_path / "landing"
    case.build(landing)
    files = [(p, KINDS[p.parent.name]) for p in sorted(landing.rglob("*"))
             if p.suffix.lower() in (".xlsx", ".csv") and p.parent.name in KINDS]
    assert files
    for path, kind in files:
        _both(path, kind)


# rows that come close to each reason without being one, and rows that are one
_ROWS = st.sampled_from([
    "record", "blank", "note", "summary", "count_summary", "seq_only", "header",
    "half_header", "almost_half_header", "id_note", "id_total", "id_count", "no_id",
    "no_id_note", "merged_note", "spaces", "fullwidth_header", "header_with_id",
])


def _line(kind: str, n: int) -> list:
    record = [n, f"P{n}", "长沙市", "芙蓉区", f"小区{n}", "未开工", None, None, 10, 0,
              "2020-06-20", "已审核"]
    half = len(HEADER) // 2
    if kind == "record":
        return record
    if kind == "blank":
        return [None, "  ", ""]
    if kind == "note":
        return [f"注：第{n}条说明，数据以系统为准。"]
    if kind == "summary":
        return ["合计", None, None, None, f"{n}个小区", None, None, None, 100, 10]
    if kind == "count_summary":
        return ["合计", f"共{n}个", None, None, None, None, None, None, 100, 10]
    if kind == "seq_only":
        return [n]
    if kind == "header":
        return list(HEADER)
    if kind == "half_header":      # exactly half the header repeated: a header row
        return list(HEADER[:half]) + record[half:]
    if kind == "almost_half_header":  # one short of half: a record
        return list(HEADER[:half - 1]) + record[half - 1:]
    if kind == "id_note":          # its 项目编号 reads like a 注 line: a record
        return [None, "注：以系统为准的说明文字很长"] + record[2:]
    if kind == "id_total":
        return ["合计", "合计"] + [None] * 6 + [100, 10]
    if kind == "id_count":
        return [None, f"{n}个小区"] + [None] * 6 + [100, 10]
    if kind == "no_id":            # no 项目编号, but data: a record? (_classify decides)
        return [n, None] + record[2:]
    if kind == "no_id_note":
        return ["说明：以下数据为初步统计结果，仅供参考使用", None, None, None]
    if kind == "merged_note":      # a merged 注 cell repeated across the row
        return ["注：本表数据截至月底统计口径"] * 4
    if kind == "spaces":           # the identity cell only spaces
        return [n, "   "] + record[2:]
    if kind == "fullwidth_header":  # the header in full-width letters and with spaces
        return [f" {h} " for h in HEADER]
    return [n, "项目编号"] + list(HEADER[2:])   # header_with_id


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(titles=st.integers(0, 3), lines=st.lists(_ROWS, min_size=1, max_size=30),
       as_csv=st.booleans())
def test_generated_rows_read_the_same_with_the_screen_and_store(tmp_path, screen_always, titles, lines,
                                                      as_csv):
    grid = [[f"标题{i}"] for i in range(titles)] + [HEADER]
    grid += [_line(kind, n) for n, kind in enumerate(lines)]
    grid.append(["1", "PLAST"] + ["x"] * 10)   # at least one record
    table = _both(write_export(tmp_path, grid, as_csv), "export")
    assert isinstance(table, dict), table  # read, not refused


def test_the_screen_looks_at_few_rows_of_a_clean_export(tmp_path, monkeypatch):
    """What the screen is for: of 1,000 clean records with a 合计 and a 注 line, only those two
    rows (and the blank one) go through the row-by-row test."""
    grid = [["导出"], HEADER]
    grid += [[n, f"P{n}", "长沙市", "芙蓉区", f"小区{n}", "未开工", None, None, 10, 0,
              "2020-06-20", "已审核"] for n in range(1000)]
    grid += [[None], ["合计", None, None, None, "1000个小区"], ["注：数据以系统为准。"]]
    path = _xlsx(tmp_path / "e_2020-07-01.xlsx", grid)
    seen = []
    classify = readers._classify
    monkeypatch.setattr(readers, "_classify", lambda cells, *a: seen.append(cells) or classify(cells, *a))
    table = readers.read_table(path, "export")
    assert table.rows_read == 1000
    assert [s.reason for s in table.skipped] == ["title", "summary", "note"]
    assert len(seen) == 2          # the blank row is counted without it


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet="ab长 ,;\t\r\n\u2028\x0b", max_size=120),
       delimiter=st.sampled_from([",", ";", "\t"]))
@example(text="a,长\r\n,b\r\n\r\n" * 20, delimiter=",")     # Windows line ends only
@example(text="a,b\r\nc\rd\n\r\n" * 10 + "e", delimiter=",")  # all three, no last one
@example(text="a;b\n\nc\n" * 20, delimiter=";")                # \n only
def test_a_quote_free_csv_is_split_into_the_rows_csv_reader_gives(tmp_path, screen_always, text,
                                                                   delimiter):
    """readers._split_csv_sheet (issue 17) against csv.reader itself: line ends \\r\\n, \\r and
    \\n (and no others; a text without \\r is split at \\n alone), empty lines, a last line
    with or without its line break."""
    import csv
    import io

    expected = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    width = max(map(len, expected), default=0)
    # the text split as it is, and from the file's own UTF-8 bytes (a UTF-8 csv's path)
    for utf8 in (None, text.encode("utf-8")):
        sheet = readers._split_csv_sheet(tmp_path / "x.csv", "export", text, delimiter, utf8)
        assert sheet.grid == expected[:readers.HEAD_ROWS]
        stored = sheet.body.rows(list(range(len(sheet.body)))) if sheet.body is not None else []
        assert [r + [None] * (width - len(r)) for r in stored] == \
            [r + [None] * (width - len(r)) for r in expected]


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="a,\r\n\x0b\x0c\x1c\x85\u2028\u2029", max_size=80),
       limit=st.integers(0, 12), size=st.integers(1, 9))
def test_the_first_lines_of_a_csv_are_those_of_the_whole_text_split(text, limit, size):
    assert readers._first_lines(text, limit, size) == \
        "".join(text.splitlines(keepends=True)[:limit])


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(st.one_of(st.none(), st.text(alphabet="a长", max_size=3)),
                              min_size=2, max_size=2), max_size=12),
       block=st.integers(1, 5), span=st.tuples(st.integers(0, 12), st.integers(0, 12)),
       picked=st.sets(st.integers(0, 11)), arrow=st.booleans())
def test_stored_rows_keep_a_run_or_a_selection_of_their_rows(rows, block, span, picked, arrow):
    """_StoredRows.select: a run of rows (the export without its 合计 lines) as slices of the
    same chunks, any other selection taken cell by cell; both the rows selected, in order."""
    import pyarrow as pa

    blocks, lengths = [], []
    for first in range(0, len(rows), block):
        part = rows[first:first + block]
        blocks.append([readers._Chunk(pa.array([r[c] for r in part], pa.string()) if arrow
                                      else [r[c] for r in part]) for c in range(2)])
        lengths.append(len(part))
    if not blocks:
        return
    stored = readers._StoredRows.from_blocks(blocks, lengths)
    lo, hi = sorted(span)
    for keep in (list(range(min(lo, len(rows)), min(hi, len(rows)))),
                 sorted(i for i in picked if i < len(rows))):
        kept = stored.select(keep)
        assert len(kept) == len(keep)
        assert kept.rows(list(range(len(keep)))) == [rows[i] for i in keep]
