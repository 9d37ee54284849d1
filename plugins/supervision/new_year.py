"""``make new-year YEAR=Y [FROM=X]``: the programme file of a new year from an earlier one.

Every month and date of the earlier file (and the year in 年度 / 〔year〕 of its texts) is moved
by the years between the two; comments are kept. What only the year's notice can say is marked
in the new file with a ``# DECIDE:`` comment above its key and listed in the printed output:
the basis and its 文号, the deadlines and targets, the weights, the 发文字号 numbering, the
mid-year and year-end months and the quotations. The new file is then validated as the
pipeline validates it at load time (supervision.config.validate_programme), and the working-day
calendar is checked for the year's publication days. docs/runbook.md §5 walks a year with it.

    python -m supervision.new_year --year 2021 [--from 2020] [--config-dir include/config]
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import paths
from .config import ConfigError, available_programme_years, load_province, validate_programme
from .months import Month, months_between

#: what a person must decide for a new year, by key of the programme file
DECISIONS: dict[str, str] = {
    "first_month": "the first data month reported (the first ranking)",
    "last_month": "the last data month reported",
    "deadlines": "the deadlines of the year's notice (开工 / 投资)",
    "investment_target": "the investment goal by its deadline (also expected_path.investment_rate.target)",
    "weights": "the ranking basis: 1/0/0 ranks by 开工率 alone (documents name the rate and its "
               "values), several weights give a composite score",
    "expected_path": "the expected path behind the lag rule (from / to months, targets)",
    "documents.basis": "the basis: the year's 实施方案 and its 文号",
    "documents.monthly_bulletin.number": "发文字号 of the monthly bulletins (prefix, first number; "
                                         "numbers: YYYY-MM: N from the office's registry)",
    "documents.supervision_notice.number": "发文字号 of the 督办通知 (prefix, first number)",
    "documents.supervision_notice.quotation": "the requirement of the notice the 督办通知 quotes "
                                              "(remove it when the year's notice has none)",
    "documents.mid_year_bulletin.month": "the data month of the 年中通报",
    "documents.mid_year_bulletin.number": "发文字号 of the 年中通报",
    "documents.mid_year_bulletin.quotation": "the requirement the 年中通报 quotes",
    "documents.year_end_bulletin.month": "the data month of the 年底通报",
    "documents.year_end_bulletin.number": "发文字号 of the 年底通报",
    "documents.year_end_bulletin.quotation": "the requirement the 年底通报 quotes",
}

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<rest>.*)$")
_DATE = re.compile(r"(?<![\d-])(?P<y>(?:19|20)\d\d)-(?P<m>0[1-9]|1[0-2])(?:-(?P<d>[0-3]\d))?(?![\d-])")


@dataclass(frozen=True)
class Decision:
    key: str
    what: str
    value: str       # the value written (moved from the earlier year), as in the file

    def line(self) -> str:
        return f"  {self.key} = {self.value}\n      {self.what}"


def move_dates(text: str, years: int) -> str:
    """Every YYYY-MM / YYYY-MM-DD of ``text`` moved by ``years`` (29 February → 28 February
    when the new year has none), and the year of ``N年度`` / ``〔N〕``."""
    import calendar  # noqa: PLC0415

    def date_sub(m: re.Match) -> str:
        y = int(m["y"]) + years
        if m["d"] is None:
            return f"{y:04d}-{m['m']}"
        day = min(int(m["d"]), calendar.monthrange(y, int(m["m"]))[1])
        return f"{y:04d}-{m['m']}-{day:02d}"

    text = _DATE.sub(date_sub, text)
    text = re.sub(r"((?:19|20)\d\d)(年度|年)", lambda m: f"{int(m[1]) + years}{m[2]}", text)
    return re.sub(r"〔((?:19|20)\d\d)〕", lambda m: f"〔{int(m[1]) + years}〕", text)


def new_programme_text(source: str, source_year: int, year: int) -> tuple[str, list[Decision]]:
    """The text of the new year's file and the decisions marked in it."""
    years = year - source_year
    data = yaml.safe_load(source)
    out: list[str] = [
        f"# Programme year {year}: written by `make new-year YEAR={year} FROM={source_year}` from",
        f"# {source_year}.yaml, every month and date moved by {years} year{'s' if years > 1 else ''}. Every `# DECIDE:`",
        "# below is a value only the year's notice can give: set it, delete the DECIDE line, validate",
        f"# (make new-year validates; so does every run). docs/runbook.md §5.",
    ]
    decisions: list[Decision] = []
    stack: list[tuple[int, str]] = []
    lines = source.splitlines()
    # the earlier file's own header comment (up to the first key) speaks of the earlier year
    start = next((i for i, ln in enumerate(lines) if _KEY.match(ln)), 0)
    for line in lines[start:]:
        m = _KEY.match(line)
        if m:
            indent = len(m["indent"])
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, m["key"]))
            key = ".".join(k for _, k in stack)
            if key == "year":
                out.append(f"{m['indent']}year: {year}")
                continue
            if key in DECISIONS:
                out.append(f"{m['indent']}# DECIDE: {DECISIONS[key]}")
                decisions.append(Decision(key, DECISIONS[key], _value_text(data, key, years)))
        out.append(move_dates(line, years))
    return "\n".join(out) + "\n", decisions


def _value_text(data: dict, key: str, years: int) -> str:
    node = data
    for part in key.split("."):
        node = node[part]
    text = yaml.safe_dump(node, allow_unicode=True, default_flow_style=True, width=10_000,
                          sort_keys=False).strip()
    text = text.removesuffix("\n...").strip()
    return move_dates(text, years)


def calendar_gaps(text: str) -> list[int]:
    """The years of the new file's publication days the working-day calendar does not cover."""
    from .workdays import default_calendar, missing_years, nominal_publication_date  # noqa: PLC0415

    data = yaml.safe_load(text)
    year = int(data["year"])
    first = Month.parse(str(data.get("first_month", f"{year}-05")))
    last = Month.parse(str(data.get("last_month", f"{year + 1}-01")))
    day = int((data.get("schedule") or {}).get("day_of_month", 2))
    days = [nominal_publication_date(m, day) for m in months_between(first, last)]
    return missing_years(default_calendar(), days)


def new_year(year: int, source_year: int | None = None, config_dir: Path | None = None,
             force: bool = False) -> tuple[Path, list[Decision], list[int]]:
    """Write ``programmes/<year>.yaml`` from ``source_year`` (the latest earlier year by
    default), validate it; return its path, the decisions marked and the calendar's gaps."""
    base = config_dir or paths.config_dir()
    years = available_programme_years(base)
    if source_year is None:
        earlier = [y for y in years if y < year]
        if not earlier:
            raise ConfigError(f"no programme year before {year} in {base / 'programmes'}: "
                              f"give FROM=<year> (configured: {years})")
        source_year = earlier[-1]
    source = base / "programmes" / f"{source_year}.yaml"
    if not source.exists():
        raise ConfigError(f"{source}: no such programme file (configured: {years})")
    if source_year >= year:
        raise ConfigError(f"YEAR={year} must come after FROM={source_year}")
    target = base / "programmes" / f"{year}.yaml"
    if target.exists() and not force:
        raise ConfigError(f"{target} exists already: edit it, or FORCE=1 to write it again")
    text, decisions = new_programme_text(source.read_text("utf-8"), source_year, year)
    data = yaml.safe_load(text)
    validate_programme(data, target)
    load_province(str(data["province"]), config_dir)
    target.write_text(text, encoding="utf-8")
    return target, decisions, calendar_gaps(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make new-year", description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--from", dest="source", type=int)
    parser.add_argument("--config-dir", type=Path)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    try:
        target, decisions, gaps = new_year(args.year, args.source, args.config_dir, args.force)
    except ConfigError as exc:
        print(f"new-year: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {target} (valid). Decide from the {args.year} notice, then delete each "
          f"'# DECIDE:' line:")
    for d in decisions:
        print(d.line())
    if gaps:
        print(f"working-day calendar: no official holidays for {', '.join(map(str, gaps))} — add "
              "them to include/config/calendar_overrides.yaml (docs/runbook.md §5, step 3)")
    else:
        print("working-day calendar: covers every publication day of the year")
    print("next (docs/runbook.md §5): targets/<year>.csv and plan/<year>.xlsx in the landing "
          "area, then make run MONTH=<first month>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
