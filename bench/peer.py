"""The peer (issue 17): a plain, vectorised pandas script computing a month's ``ranking.csv``
and ``overdue.csv`` straight from the landing area, as the product's users would otherwise
write it. None of the product's code is imported (only its configuration files, which are
data: the header aliases and the programme year). No per-row Python loop touches records;
Python loops run over the ~15 cities and the ~6 rules only.

Reading: the plan and xlsx exports with pandas.read_excel (calamine); a csv export's title lines
with the csv module and its body with pyarrow's csv reader. Text is normalised (NFKC, then all
whitespace removed) like the product does, but only where needed: pyarrow finds the texts NFKC
could change (few: full-width digits, the ideographic space), Python's unicodedata normalises
just the distinct ones of those, and RE2 removes the whitespace. Parsing (dates, amounts,
numbers) runs on a column's distinct values, mapped back by position (pd.factorize + take).
Last month's export is used for the per-city counts only (its overdue items are not built).

    python bench/peer.py LANDING MONTH OUT_DIR [--compare PRODUCT_MONTH_DIR]

With --compare, the two csv files are compared cell by cell with the product's and every
differing cell is printed; the exit status is 1 when any differ.
"""
from __future__ import annotations

import argparse
import codecs
import csv
import re
import sys
import time
import unicodedata
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "include" / "config"
STATUSES = ["未开工", "已开工", "已完工"]
MONEY = ["planned_invest", "done_invest", "central_subsidy", "central_budget",
         "provincial_subsidy", "local_funds", "social_funds"]
DATES = ["start_date", "finish_date", "reported_at", "reviewed_at"]
FACTS = [("households", "涉及户数"), ("buildings", "小区内楼栋数"), ("area", "总建筑面积"),
         ("built_year", "建成时间"), ("ownership", "房屋性质"), ("planned_content", "计划改造内容")]
REASON_TEXT = {"MISSING_FROM_EXPORT": "系统中无该小区记录", "DATA_INVALID": "数据未通过校验",
               "NOT_STARTED_PAST_DEADLINE": "开工截止期后仍未开工",
               "NOT_REPORTED": "信息报送不及时", "NOT_REVIEWED": "监管责任人未审核",
               "PLAN_MISMATCH": "与计划申报信息不一致"}
REASONS = list(REASON_TEXT)


# --------------------------------------------------------------------------- reading

def _ranges(chars) -> str:
    """An RE2 character class of these code points."""
    runs: list[list[int]] = []
    for cp in sorted(map(ord, chars)):
        if runs and runs[-1][1] == cp - 1:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp])
    return "[" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in runs) + "]"


def _nfkc_stable() -> str:
    """RE2 for a text NFKC leaves as it is: every character one of the BMP's that has no
    compatibility or canonical decomposition, is no mark (combining class 0, category not M)
    and is never the second of a canonical composition: such a text has nothing to decompose,
    reorder or compose. ASCII and the CJK ideographs are among them; full-width forms and the
    ideographic space are not."""
    chars = [chr(cp) for cp in range(0x10000) if not 0xD800 <= cp <= 0xDFFF]
    second = {c for ch in chars for c in unicodedata.normalize("NFD", ch)[1:]}
    return "^" + _ranges(c for c in chars if c not in second and unicodedata.combining(c) == 0
                         and not unicodedata.category(c).startswith("M")
                         and unicodedata.normalize("NFKD", c) == c) + "*$"


NFKC_STABLE = _nfkc_stable()
SPACE = _ranges(filter(str.isspace, map(chr, range(0x110000)))) + "+"  # Python's \s, for RE2


def arrow(s: pd.Series) -> pa.Array:
    """The column as one Arrow array (pyarrow compiles a regex once per chunk, and the csv
    reader makes a chunk per block)."""
    a = pa.array(s)
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def norm(s: pd.Series) -> pd.Series:
    """NFKC, all whitespace removed; missing stays missing. NFKC is Python's unicodedata, run
    on the distinct texts it could change only (pyarrow's utf8_normalize does not compose);
    whitespace (Python's \\s) is removed with RE2."""
    t = s.astype("string")
    changing = pc.invert(pc.match_substring_regex(arrow(t), NFKC_STABLE)).fill_null(False)
    changing = changing.to_numpy(zero_copy_only=False)
    if changing.any():
        sub = t[changing]
        codes, uniques = pd.factorize(sub)
        nfkc = pd.Series(uniques, dtype="string").str.normalize("NFKC")
        t = t.copy()
        t[changing] = nfkc.array.take(codes, allow_fill=True)
    out = pc.replace_substring_regex(arrow(t), SPACE, "")
    return pd.Series(pd.arrays.ArrowStringArray(out), index=s.index, name=s.name)


def extract(s: pd.Series, pattern: str) -> pd.DataFrame:
    """``s.str.extract(pattern)`` with pyarrow's RE2 (pandas runs Python's re on every cell);
    ``pattern`` spells digits \\p{Nd}, which is Python's \\d."""
    groups = pc.extract_regex(arrow(s), pattern)
    fields = {i: pc.struct_field(groups, [i]) for i in range(groups.type.num_fields)}
    return pd.DataFrame({i: pd.arrays.ArrowStringArray(
        pc.if_else(pc.is_valid(groups), f, pa.scalar(None, f.type))) for i, f in fields.items()},
        index=s.index)


def starts_numbered(s: pd.Series) -> pd.Series:
    """``s.str.match(r"^\\d+、")`` with RE2 (missing: False)."""
    hit = pc.match_substring_regex(arrow(s), r"^\p{Nd}+、")
    return pd.Series(hit.fill_null(False).to_numpy(zero_copy_only=False), index=s.index)


def member(s: pd.Series, values: pd.Series) -> pd.Series:
    """``s.isin(values)`` for a long ``values`` (pyarrow's is_in; pandas builds a Python object
    per value). Missing matches missing, as in isin."""
    found = pc.is_in(arrow(s), value_set=arrow(values))
    return pd.Series(found.to_numpy(zero_copy_only=False), index=s.index)


def distinct(f):
    """``f`` computed on the distinct non-missing values of a column only, then mapped back by
    position (pd.factorize + take): a code column of 300,000 cells has a few dozen distinct
    values. Missing stays missing."""
    def on_distinct(s: pd.Series) -> pd.Series:
        codes, uniques = pd.factorize(s)
        out = f(pd.Series(uniques, dtype=s.dtype))
        return pd.Series(out.array.take(codes, allow_fill=True), index=s.index, name=s.name)
    on_distinct.__doc__ = f.__doc__
    return on_distinct


def _first_filled(fields: list) -> str | None:
    return next((v for v in fields if v != ""), None)


def _droppable(first: str | None) -> bool:
    """A line the table drops anyway (blank, 合计, 注, a numbered note)."""
    if first is None:
        return True
    t = norm(pd.Series([first])).iloc[0]
    return t.startswith("合计") or t.startswith("注") or re.match(r"^\d+、", t) is not None


def csv_grid(path: Path, find_header) -> tuple[list, pd.DataFrame]:
    """(header line, the lines below it) of a csv export. The lines above the header (title
    lines, one field each) are read with the csv module, the header found among the first 50
    non-blank ones; the body goes to pyarrow's csv reader as text columns. A body line with
    another number of fields than the header is skipped when it is one the table drops anyway
    (the 合计 line, a note, a blank line) and refused otherwise."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
        utf8 = True
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
        utf8 = False
    ends, records, pos = [], [], 0

    def tracked():  # the file's lines, ``pos`` after the last one given
        nonlocal pos
        while pos < len(text):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end + 1
            line, pos = text[pos:end], end
            yield line
    for rec in csv.reader(tracked()):
        if rec:
            records.append(rec)
            ends.append(pos)
            if len(records) == 50:
                break
    h = find_header(pd.DataFrame(records).replace("", np.nan))
    header = records[h]
    width = len(header)

    def bad_line(row) -> str:
        if _droppable(_first_filled(next(csv.reader([row.text]), []))):
            return "skip"
        return "error"
    if utf8:  # the body's bytes as they are (after the BOM and the lines above)
        data = memoryview(raw)[raw.startswith(codecs.BOM_UTF8) * 3 + len(text[:ends[h]].encode("utf-8")):]
    else:
        data = text[ends[h]:].encode("utf-8")
    body = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(column_names=[str(i) for i in range(width)]),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=bad_line),
        convert_options=pacsv.ConvertOptions(column_types={str(i): pa.string() for i in range(width)},
                                             null_values=[""], strings_can_be_null=True))
    body = body.to_pandas().set_axis(range(width), axis=1)
    return header, body.set_axis(body.index + h + 1)


def table(path: Path, kind: str) -> pd.DataFrame:
    """The rows below the header line, columns named by the alias table; title, blank, 合计,
    注 and repeated header lines dropped. Keeps the 1-based source row (blank csv lines not
    counted)."""
    aliases = yaml.safe_load((CONFIG / "header_aliases.yaml").read_text("utf-8"))[kind]["fields"]
    lookup = {norm(pd.Series([h])).iloc[0]: f for f, spec in aliases.items() for h in spec["headers"]}

    def find_header(top: pd.DataFrame) -> int:  # the header is among the first lines
        return int(top.apply(norm).isin(list(lookup)).sum(axis=1).idxmax())
    if path.suffix == ".csv":
        header, body = csv_grid(path, find_header)
        header = pd.Series(header).replace("", np.nan)
    else:
        g = pd.read_excel(path, header=None, engine="calamine", dtype=str)
        for c in g.columns:
            g[c] = g[c].mask(g[c] == "")
        h = find_header(g.head(50))
        header, body = g.iloc[h], g.iloc[h + 1:]
    names = norm(header).map(lookup).fillna("_").to_numpy()
    first = body.iloc[:, 0]
    for c in body.columns[1:]:
        first = first.fillna(body[c])  # the line's first filled cell
    first = norm(first)
    body = body.set_axis(names, axis=1)
    body = body.loc[:, ~body.columns.duplicated() & (body.columns != "_")]
    # a repeated header line: its 小区名称 cell is a 小区名称 header
    name_headers = {k for k, v in lookup.items() if v == "name"}
    header_again = norm(body["name"]).isin(name_headers).fillna(False)
    keep = (first.notna() & ~first.str.startswith("合计", na=False)
            & ~first.str.startswith("注", na=False) & ~starts_numbered(first)
            & ~header_again)
    out = body[keep.to_numpy()].copy()
    out["source_row"] = out.index + 1
    return out.reset_index(drop=True)


@distinct
def _ymd(key: pd.Series) -> pd.Series:
    return pd.to_datetime(key, format="%Y-%m-%d", errors="coerce").dt.strftime("%Y-%m-%d").astype("string")


@distinct
def _serial(t: pd.Series) -> pd.Series:
    serial = pd.to_numeric(t, errors="coerce")
    day = pd.Timestamp("1899-12-30") + pd.to_timedelta(serial.where(serial > 0), unit="D")
    return pd.Series(day).dt.strftime("%Y-%m-%d").astype("string")


def iso_date(s: pd.Series) -> pd.Series:
    """y-m-d (any of -/.年月 between) at the start of the text, else an Excel serial day; the
    calendar check and formatting run on the distinct dates only."""
    t = norm(s)
    m = extract(t, r"^(?P<y>\p{Nd}{4})[-/.年](?P<m>\p{Nd}{1,2})[-/.月](?P<d>\p{Nd}{1,2})")
    out = _ymd(m[0] + "-" + m[1].str.zfill(2) + "-" + m[2].str.zfill(2))
    return out.fillna(_serial(t.where(m[0].isna())))


def parse_date(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(ISO date text or <NA>, unreadable mask)."""
    out = iso_date(s)
    return out, s.notna() & out.isna()


@distinct
def wan(s: pd.Series) -> pd.Series:
    t = norm(s)
    t = pd.Series(pd.arrays.ArrowStringArray(pc.replace_substring(
        pc.replace_substring_regex(arrow(t), "万元$", "", max_replacements=1), ",", "")))
    return pd.to_numeric(t, errors="coerce")


def parse_yuan(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    v = wan(s)
    yuan = (v * 10000).round().astype("Int64")
    return yuan, s.notna() & v.isna()


@distinct
def number(s: pd.Series) -> pd.Series:
    return pd.to_numeric(extract(norm(s), r"^(?P<n>[0-9.]+)")[0], errors="coerce")


@distinct
def year(s: pd.Series) -> pd.Series:
    return pd.to_numeric(extract(norm(s), r"(?P<y>\p{Nd}{4})")[0], errors="coerce")


# --------------------------------------------------------------------------- one month

def joined(flags: pd.DataFrame, sep: str) -> pd.Series:
    """The names of the True columns of each row, joined by ``sep`` (column-wise: one
    string concatenation per column, not per row)."""
    out = pd.Series("", index=flags.index, dtype=object)
    for c in flags.columns:
        out = out + np.where(flags[c].to_numpy(), c + sep, "")
    return out.str.removesuffix(sep)


def month_bounds(month: str) -> tuple[date, date, date]:
    y, m = map(int, month.split("-"))
    first = date(y, m, 1)
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    return first, nxt - timedelta(days=1), nxt


def snapshot(landing: Path, month: str) -> tuple[Path, str]:
    cutoff = month_bounds(month)[2].isoformat()
    files = sorted((p.stem.rsplit("_", 1)[1], p) for p in (landing / "exports").iterdir()
                   if p.suffix in (".xlsx", ".csv") and p.stem.rsplit("_", 1)[1] <= cutoff)
    return files[-1][1], files[-1][0]


def programme(year: int) -> dict:
    return yaml.safe_load((CONFIG / "programmes" / f"{year}.yaml").read_text("utf-8"))


def expected(path: dict, month: str) -> Fraction:
    def idx(ym: str) -> int:
        y, m = map(int, str(ym).split("-"))
        return y * 12 + m
    k = min(max(idx(month) - idx(path["from"]), 0), idx(path["to"]) - idx(path["from"]))
    return Fraction(str(path["target"])) * k / (idx(path["to"]) - idx(path["from"]))


def prog_province(year: int) -> str:
    return programme(year)["province"]


def load_year(landing: Path, year: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    t = pd.read_csv(landing / "targets" / f"{year}.csv", dtype=str, encoding="utf-8-sig")
    t.columns = ["city", "target"] + list(t.columns[2:])
    t["city"] = norm(t["city"])
    t = t[~t.city.str.startswith("合计")].reset_index(drop=True)
    t["target"] = t["target"].astype(int)
    prov = yaml.safe_load((CONFIG / "provinces" / f"{prog_province(year)}.yaml").read_text("utf-8"))
    order = {c["name"]: i for i, c in enumerate(prov["cities"])}
    alias = {a: c["name"] for c in prov["cities"] for a in c.get("aliases", [])}
    t["city"] = t.city.replace(alias)
    t["city_order"] = t.city.map(order)
    t = t.sort_values("city_order").reset_index(drop=True)
    plan = table(landing / "plan" / f"{year}.xlsx", "plan")
    for c in ("city", "county", "name"):
        plan[c + "_k"] = norm(plan[c])
    plan["plan_key"] = plan.city_k + "|" + plan.county_k + "|" + plan.name_k
    return t, plan, facts(plan)


def facts(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "households": number(frame["households"]), "buildings": number(frame["buildings"]),
        "area": number(frame["area"]), "built_year": year(frame["built"]),
        "ownership": norm(frame["ownership"]), "planned_content": norm(frame["planned_content"])})


def sorted_distinct(v: np.ndarray) -> np.ndarray:
    v = np.sort(v)  # (np.unique takes seconds here on numpy 2.4)
    return v[np.r_[True, v[1:] != v[:-1]]] if len(v) else v


def items_differ(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Per row: are the sets of items of ``a`` and ``b`` (text split at 、,;/, empty items
    dropped) different? Vectorised with pyarrow: the (row, item) pairs of both sides, each
    item coded, compared as two sorted integer sets (symmetric difference)."""
    pairs = []
    for s in (a, b):
        lists = pc.split_pattern_regex(arrow(s), r"[、,;/]+")
        rows = pc.list_parent_indices(lists)
        items = pc.list_flatten(lists)
        filled = pc.not_equal(items, "")
        pairs.append((rows.filter(filled).to_numpy().astype(np.int64), items.filter(filled)))
    codes = pc.dictionary_encode(pa.concat_arrays([pairs[0][1], pairs[1][1]])).indices.to_numpy()
    k = int(codes.max()) + 1 if len(codes) else 1
    n0 = len(pairs[0][0])
    ka = sorted_distinct(pairs[0][0] * k + codes[:n0])
    kb = sorted_distinct(pairs[1][0] * k + codes[n0:])
    out = np.zeros(len(a), dtype=bool)
    out[np.setxor1d(ka, kb, assume_unique=True) // k] = True
    return out


def month_figures(landing: Path, month: str, targets: pd.DataFrame, plan: pd.DataFrame,
                  fp: pd.DataFrame, prog: dict, items: bool = True
                  ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The month's per-city counts and (``items``) its overdue items; ``fp`` is the plan's
    facts. Last month's run needs the counts only."""
    first, last, _ = month_bounds(month)
    first, last = first.isoformat(), last.isoformat()
    path, taken = snapshot(landing, month)
    x = table(path, "export")
    for c in ("city", "county", "name", "project_id", "status", "review_status"):
        x[c + "_k"] = norm(x[c]) if c in x else pd.Series(pd.NA, index=x.index, dtype="string")
    x["plan_key"] = x.city_k + "|" + x.county_k + "|" + x.name_k
    rules = {}
    parsed = {}
    bad_date = pd.Series(False, index=x.index)
    for c in DATES:
        parsed[c], bad = parse_date(x[c])
        bad_date |= bad
    rules["DATE_UNREADABLE"] = bad_date
    bad_money = pd.Series(False, index=x.index)
    neg = pd.Series(False, index=x.index)
    for c in MONEY:
        parsed[c], bad = parse_yuan(x[c])
        bad_money |= bad
        neg |= (parsed[c] < 0).fillna(False)
    rules["MONEY_UNREADABLE"] = bad_money
    rules["MONEY_NEGATIVE"] = neg
    st, sd, fd = x.status_k, parsed["start_date"], parsed["finish_date"]
    rules["STATUS_UNKNOWN"] = ~st.isin(STATUSES).fillna(False)
    started_status = st.isin(["已开工", "已完工"]).fillna(False)
    rules["START_DATE_MISSING"] = started_status & sd.isna() & ~x["start_date"].notna()
    rules["START_DATE_UNEXPECTED"] = (st == "未开工").fillna(False) & x["start_date"].notna()
    rules["FINISH_DATE_MISSING"] = (st == "已完工").fillna(False) & x["finish_date"].isna()
    rules["FINISH_DATE_UNEXPECTED"] = st.isin(["未开工", "已开工"]).fillna(False) & x["finish_date"].notna()
    rules["FINISH_BEFORE_START"] = (fd < sd).fillna(False)
    rules["DATE_AFTER_SNAPSHOT"] = pd.concat([(parsed[c] > taken).fillna(False) for c in DATES],
                                             axis=1).any(axis=1)
    pid = x.project_id_k
    rules["PROJECT_ID_MISSING"] = pid.isna() | (pid == "")
    rules["PROJECT_ID_DUPLICATE"] = pid.notna() & pid.duplicated(keep=False)
    rules["CITY_NOT_TARGET"] = ~x.city_k.isin(targets.city).fillna(False)
    in_plan = member(x.plan_key, plan.plan_key)
    rules["PLAN_DUPLICATE_RECORD"] = in_plan & x.plan_key.duplicated(keep=False)
    failed = pd.DataFrame(rules).fillna(False).astype(bool)
    valid = ~failed.any(axis=1)
    rule_ids = joined(failed[sorted(failed.columns)], ",")

    # matched records, with the plan's spelling and households
    rec = pd.DataFrame({"plan_key": x.plan_key, "project_id": pid, "valid": valid,
                        "status": st, "review": x.review_status_k,
                        "reported": parsed["reported_at"], "start": sd,
                        "planned": parsed["planned_invest"], "done": parsed["done_invest"],
                        "rule_ids": rule_ids})
    if items:
        fx = facts(x)
        at = pd.Index(plan.plan_key).get_indexer(x.plan_key)  # raises on a repeated plan key
        mism = []
        for col, label in FACTS:
            a, b = fx[col], pd.Series(fp[col].array.take(at, allow_fill=True), index=x.index)
            both = a.notna() & b.notna()
            if col == "area":
                d = both & ((a.astype(float) - b.astype(float)).abs() > 1e-6)
            elif col == "planned_content":  # sets of items; equal texts are equal sets
                d = (both & (a != b)).fillna(False).to_numpy(dtype=bool)
                rows = np.flatnonzero(d)
                d[rows] = items_differ(a.iloc[rows], b.iloc[rows])
                d = pd.Series(d, index=x.index)
            else:
                d = both & (a.astype(object) != b.astype(object))
            mism.append(pd.Series(np.where(d.fillna(False), label, ""), index=x.index))
        flags = pd.concat(mism, axis=1).ne("").set_axis([f for _, f in FACTS], axis=1)
        rec["mismatch"] = joined(flags, "、")
    p = plan[["plan_key", "city_k", "county", "name", "households"]].rename(
        columns={"city_k": "city"})
    p["hh"] = pd.to_numeric(norm(p.households), errors="coerce").fillna(0).astype(int)
    m = p.merge(rec[in_plan.to_numpy()], on="plan_key", how="left", indicator=True)
    m["present"] = m._merge == "both"
    counted = m.present & m.valid.fillna(False).astype(bool) & ~m.duplicated("plan_key", keep=False)
    m["started"] = counted & m.status.isin(["已开工", "已完工"]).fillna(False) & (m.start <= last).fillna(False)
    fin = x.plan_key.to_frame().assign(fd=parsed["finish_date"])
    m = m.merge(fin.drop_duplicates("plan_key", keep=False), on="plan_key", how="left")
    m["finished"] = counted & (m.status == "已完工").fillna(False) & (m.fd <= last).fillna(False)
    rep_in = (m.reported >= first).fillna(False) & (m.reported <= last).fillna(False)
    earlier_final = ((m.status == "已完工") & (m.review == "已审核") & (m.reported < first)).fillna(False)
    m["timely"] = counted & (m.review == "已审核").fillna(False) & (rep_in | earlier_final)
    m["planned_c"] = m.planned.where(counted).fillna(0).astype("int64")
    m["done_c"] = m.done.where(counted).fillna(0).astype("int64")
    m["hh_started"] = m.hh.where(m.started, 0)
    g = m.groupby("city").agg(plan_count=("plan_key", "size"), started=("started", "sum"),
                              finished=("finished", "sum"), timely=("timely", "sum"),
                              planned=("planned_c", "sum"), done=("done_c", "sum"),
                              hh=("hh", "sum"), hh_started=("hh_started", "sum"))
    city = targets.set_index("city")[["target", "city_order"]].join(g).fillna(0)
    if not items:
        return city, None

    # overdue items, vectorised per reason
    past = last >= str(prog["deadlines"]["start"])
    items = []
    miss = m[~m.present]
    items.append(miss.assign(project_id=pd.NA, reason="MISSING_FROM_EXPORT", detail=pd.NA))
    pr = m[m.present]
    items.append(pr[~pr.valid.astype(bool)].assign(reason="DATA_INVALID", detail=lambda d: d.rule_ids))
    if past:
        items.append(pr[pr.valid.astype(bool) & ~pr.started].assign(
            reason="NOT_STARTED_PAST_DEADLINE", detail=lambda d: d.status))
    rin = (pr.reported >= first).fillna(False) & (pr.reported <= last).fillna(False)
    ef = ((pr.status == "已完工") & (pr.review == "已审核") & (pr.reported < first)).fillna(False)
    items.append(pr[~rin & ~ef].assign(reason="NOT_REPORTED", detail=lambda d: d.reported))
    items.append(pr[~(pr.review == "已审核").fillna(False)].assign(reason="NOT_REVIEWED",
                                                                   detail=lambda d: d.review))
    items.append(pr[pr.mismatch.fillna("") != ""].assign(reason="PLAN_MISMATCH",
                                                         detail=lambda d: d.mismatch))
    od = pd.concat(items, ignore_index=True)
    od["city_order"] = od.city.map(targets.set_index("city").city_order)
    od["reason_order"] = od.reason.map({r: i for i, r in enumerate(REASONS)})
    od = od.sort_values(["city_order", "county", "name", "reason_order", "project_id"],
                        na_position="first", kind="stable")
    overdue = pd.DataFrame({"市州": od.city, "所在县市区": od.county, "小区名称": od.name,
                            "项目编号": od.project_id, "原因": od.reason,
                            "原因说明": od.reason.map(REASON_TEXT), "详情": od.detail})
    return city, overdue


# --------------------------------------------------------------------------- per-city arithmetic

RATES = [("start_rate", "started", "target", "开工率"), ("hh_rate", "hh_started", "hh", "按户数计开工率"),
         ("finish_rate", "finished", "target", "完工率"), ("invest_rate", "done", "planned", "投资完成率"),
         ("timely_rate", "timely", "plan_count", "报送及时率")]


def rates(city: pd.DataFrame) -> pd.DataFrame:
    """Exact fractions per city (15 rows: Python on the cities, not on records)."""
    total = city.sum(numeric_only=True).to_frame("全省").T
    out = pd.concat([city, total])
    out = out.astype({c: "int64" for c in ("target", "started", "finished", "timely", "planned",
                                           "done", "hh", "hh_started", "plan_count")})
    for name, num, den, _ in RATES:
        out[name] = [Fraction(int(a), int(b)) if b else None for a, b in zip(out[num], out[den])]
    return out


def ranking(city: pd.DataFrame, prev: pd.DataFrame | None, prog: dict, month: str) -> pd.DataFrame:
    r = rates(city)
    w = {k: Fraction(str(v)) for k, v in prog["weights"].items()}
    cap = lambda f: min(f or Fraction(0), Fraction(1))  # noqa: E731
    exact = [100 * (w["start_rate"] * cap(a) + w["investment_rate"] * cap(b) + w["timely_rate"] * cap(c))
             for a, b, c in zip(r.start_rate, r.invest_rate, r.timely_rate)]
    r["cents"] = [int(e * 100 + Fraction(1, 2)) for e in exact]
    cities = r.index != "全省"

    def comp(values: pd.Series) -> pd.Series:
        v = values[cities].map(lambda f: f if f is not None else Fraction(0))
        return v.map(lambda x: 1 + int((v > x).sum()))
    r["rank"] = comp(r.cents.map(Fraction))
    key = pd.DataFrame({"s": -r.cents[cities],
                        "a": r.start_rate[cities].map(lambda f: -(f or 0)),
                        "b": r.invest_rate[cities].map(lambda f: -(f or 0)),
                        "o": r.city_order[cities]})
    order = sorted(key.index, key=lambda c: tuple(key.loc[c]))
    r["list_order"] = pd.Series({c: i + 1 for i, c in enumerate(order)})
    for name, *_ in RATES:
        r[name + "_rank"] = comp(r[name])
    es = expected(prog["expected_path"]["start_rate"], month)
    ei = expected(prog["expected_path"]["investment_rate"], month)
    r["start_lag"] = [f is not None and f < es for f in r.start_rate]
    r["inv_lag"] = [f is not None and f < ei for f in r.invest_rate]
    r.loc["全省", ["start_lag", "inv_lag"]] = False
    pr = ranking(prev, None, prog, month) if prev is not None else None

    def fl(f):
        return "" if f is None or (isinstance(f, float) and np.isnan(f)) else repr(float(f))

    def wan(y):
        s = f"{abs(int(y)) // 10000}.{abs(int(y)) % 10000:04d}"
        return "-" + s if y < 0 else s

    rows = []
    for c, x in r.iterrows():
        row = {"市州": c, "任务数": int(x.target), "累计开工数": int(x.started), "开工率": fl(x.start_rate),
               "按户数计开工率": fl(x.hh_rate), "累计完工数": int(x.finished), "完工率": fl(x.finish_rate),
               "计划投资额": wan(x.planned), "累计完成投资额": wan(x.done), "投资完成率": fl(x.invest_rate),
               "报送及时率": fl(x.timely_rate),
               "综合得分": f"{x.cents // 100}.{x.cents % 100:02d}",
               "排名": "" if c == "全省" else int(x["rank"]),
               "排名表位次": "" if c == "全省" else int(x.list_order)}
        for name, *_rest in RATES:
            row[_rest[2] + "排名"] = "" if c == "全省" else int(x[name + "_rank"])
        for name, *_rest in RATES:
            ch = ""
            if pr is not None and x[name] is not None and pr.at[c, "_" + name] is not None:
                ch = repr(float((x[name] - pr.at[c, "_" + name]) * 100))
            row[_rest[2] + "较上月(百分点)"] = ch
        row["排名较上月"] = ("" if pr is None or c == "全省"
                        else int(pr.at[c, "_rank"]) - int(x["rank"]))
        row.update({"计划小区数": int(x.plan_count), "报送及时小区数": int(x.timely),
                    "预期开工率": repr(float(es)), "预期投资完成率": repr(float(ei)),
                    "开工率滞后": "是" if x.start_lag else "", "投资完成率滞后": "是" if x.inv_lag else "",
                    "进度滞后": "是" if (x.start_lag or x.inv_lag) else ""})
        for name, *_ in RATES:
            row["_" + name] = x[name]
        row["_rank"] = x["rank"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("市州", drop=False)


def previous(month: str) -> str:
    y, m = map(int, month.split("-"))
    return f"{y - (m == 1)}-{(m - 2) % 12 + 1:02d}"


def run(landing: Path, month: str, out: Path) -> dict:
    t = time.perf_counter()
    year = int(month[:4]) if int(month[5:]) != 1 else int(month[:4]) - 1
    prog = programme(year)
    targets, plan, fp = load_year(landing, year)
    city, overdue = month_figures(landing, month, targets, plan, fp, prog)
    prev = None
    pm = previous(month)
    if pm >= str(prog["first_month"]):
        prev, _ = month_figures(landing, pm, targets, plan, fp, prog, items=False)
    rk = ranking(city, prev, prog, month)
    out.mkdir(parents=True, exist_ok=True)
    rk = rk[[c for c in rk.columns if not c.startswith("_")]]
    rk.to_csv(out / "ranking.csv", index=False, encoding="utf-8-sig")
    overdue.to_csv(out / "overdue.csv", index=False, encoding="utf-8-sig")
    return {"seconds": time.perf_counter() - t, "overdue_rows": len(overdue)}


# --------------------------------------------------------------------------- equality

def compare(peer: Path, product: Path) -> list[str]:
    """Every differing cell of ranking.csv and overdue.csv (as text), and shape differences."""
    diffs = []
    for name in ("ranking.csv", "overdue.csv"):
        a = pd.read_csv(peer / name, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        b = pd.read_csv(product / name, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if list(a.columns) != list(b.columns):
            diffs.append(f"{name}: columns differ: peer-only {sorted(set(a.columns) - set(b.columns))}, "
                         f"product-only {sorted(set(b.columns) - set(a.columns))}")
            common = [c for c in b.columns if c in a.columns]
            a, b = a[common], b[common]
        if len(a) != len(b):
            diffs.append(f"{name}: {len(a)} rows (peer) vs {len(b)} (product)")
            n = min(len(a), len(b))
            a, b = a.iloc[:n], b.iloc[:n]
        ne = a.to_numpy() != b.to_numpy()
        for i, j in zip(*np.nonzero(ne)):
            diffs.append(f"{name} row {i + 2} column {a.columns[j]}: peer {a.iat[i, j]!r} "
                         f"product {b.iat[i, j]!r}")
    return diffs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("landing", type=Path)
    ap.add_argument("month")
    ap.add_argument("out", type=Path)
    ap.add_argument("--compare", type=Path, help="the product's folder of the month")
    a = ap.parse_args()
    res = run(a.landing, a.month, a.out)
    print(f"peer: {a.month} in {res['seconds']:.2f} s, {res['overdue_rows']} overdue rows", file=sys.stderr)
    if a.compare:
        diffs = compare(a.out, a.compare)
        for d in diffs[:200]:
            print(d)
        print(f"{len(diffs)} differing cells" if diffs else "EQUAL: ranking.csv and overdue.csv")
        return 1 if diffs else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
