"""Programme files are validated when loaded: every file in include/config/ loads, and a
mistaken file is refused with the file and the key named."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from supervision import paths
from supervision.config import (ConfigError, available_programme_years, load_programme,
                                load_province, validate_programme)

CONFIG = paths.config_dir()
PROGRAMMES = sorted((CONFIG / "programmes").glob("*.yaml"))
PROVINCES = sorted((CONFIG / "provinces").glob("*.yaml"))


@pytest.mark.parametrize("path", PROGRAMMES, ids=lambda p: p.name)
def test_every_configured_programme_is_valid(path):
    data = yaml.safe_load(path.read_text("utf-8"))
    validate_programme(data, path)
    programme = load_programme(int(path.stem))
    assert programme.year == int(path.stem)


@pytest.mark.parametrize("path", PROVINCES, ids=lambda p: p.name)
def test_every_configured_province_is_valid(path):
    province = load_province(path.stem)
    assert province.cities
    for c in province.cities:
        assert province.canonical_city(c.display) == c.name
        for alias in c.aliases:
            assert province.canonical_city(alias) == c.name


def test_every_year_is_listed():
    assert available_programme_years() == sorted(int(p.stem) for p in PROGRAMMES)


def test_short_names_are_used_by_documents_only_where_configured():
    hunan = load_province("hunan")
    assert hunan.display_name("湘西自治州") == "湘西州"
    assert hunan.display_name("长沙市") == "长沙市"
    assert hunan.display_name("全省") == "全省"
    assert hunan.canonical_city("湘西州") == "湘西自治州"


def base_2021() -> dict:
    """The 2020 file moved to 2021 by hand (what `make new-year` writes, checked there)."""
    data = yaml.safe_load((CONFIG / "programmes" / "2020.yaml").read_text("utf-8"))
    text = yaml.safe_dump(data, allow_unicode=True)
    text = text.replace("2021-01", "2022-01").replace("2020-", "2021-").replace(
        "year: 2020", "year: 2021")
    return yaml.safe_load(text)


def refused(data: dict, name: str = "2021.yaml") -> str:
    path = Path("/cfg/programmes") / name
    with pytest.raises(ConfigError) as err:
        validate_programme(data, path)
    message = str(err.value)
    assert message.startswith(f"{path}: "), message
    return message


def set_key(data: dict, key: str, value) -> dict:
    data = copy.deepcopy(data)
    node = data
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return data


DELETE = object()


def test_the_moved_file_is_valid():
    validate_programme(base_2021(), Path("/cfg/programmes/2021.yaml"))


@pytest.mark.parametrize("key, value, words", [
    # the case: a 2021 file still saying 2020-06 would give that year no mid-year bulletin
    ("documents.mid_year_bulletin.month", "2020-06", "must be a month of 2021"),
    ("documents.year_end_bulletin.month", "2021-05", "not after documents.mid_year_bulletin.month"),
    ("documents.year_end_bulletin.month", "2021-13", "must be a month YYYY-MM"),
    ("first_month", "2020-05", "not in the programme year 2021"),
    ("last_month", "2021-04", "must lie from first_month"),
    ("last_month", "2023-01", "must lie from first_month"),
    ("deadlines.start", "2020-10-31", "not in the programme year 2021"),
    ("deadlines.start", "2021-02-28", "outside the reported months"),
    ("deadlines.start", "2021-10-32", "must be a date YYYY-MM-DD"),
    ("deadlines.investment", "2021-09-30", "before deadlines.start"),
    ("deadlines.investment", DELETE, "missing"),
    ("expected_path.start_rate.from", "2020-04", "not in the programme year 2021"),
    ("expected_path.start_rate.to", "2021-03", "must be after expected_path.start_rate.from"),
    ("expected_path.start_rate.to", "2021-11", "after the deadline's month"),
    ("expected_path.investment_rate.target", 0.6, "differs from investment_target"),
    ("investment_target", 1.5, "must lie in (0, 1]"),
    ("weights", {"start_rate": 0.6, "investment_rate": 0.3, "timely_rate": 0.2},
     "add up to exactly 1"),
    ("weights.start_rate", -0.5, "must lie in [0, 1]"),
    ("weights.start_rate", "half", "must be a number"),
    ("weights", {"start_rate": 1}, "must name exactly"),
    ("documents.monthly_bulletin.number.numbers", {"2020-06": 61}, "outside the reported months"),
    ("schedule.day_of_month", 31, "must be a day 1 … 28"),
    ("schedule.time", "9h", "must be HH:MM"),
    ("schedule.timezone", "Asia/Shanghia", "unknown time zone"),
    ("year", 2020, "does not match the file name 2021.yaml"),
    ("deadline", {"start": "2021-10-31"}, "unknown key"),
])
def test_a_mistaken_file_is_refused_with_its_key(key, value, words):
    message = refused(set_key(base_2021(), key, value))
    named = key.split(".numbers")[0] if "numbers" in key else key
    assert f": {named}" in message, message
    assert words in message, message


def test_single_indicator_weights_are_valid():
    data = set_key(base_2021(), "weights", {"start_rate": 1, "investment_rate": 0,
                                            "timely_rate": 0})
    validate_programme(data, Path("/cfg/programmes/2021.yaml"))


def test_load_programme_refuses_a_mistaken_file(tmp_path):
    import shutil
    shutil.copytree(CONFIG, tmp_path / "config")
    data = set_key(base_2021(), "documents.mid_year_bulletin.month", "2020-06")
    target = tmp_path / "config" / "programmes" / "2021.yaml"
    target.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(ConfigError, match=r"2021\.yaml: documents\.mid_year_bulletin\.month"):
        load_programme(2021, tmp_path / "config")


def test_a_province_naming_one_name_for_two_cities_is_refused(tmp_path):
    (tmp_path / "provinces").mkdir()
    (tmp_path / "provinces" / "x.yaml").write_text(
        "name: 某省\ncities:\n  - {name: 甲市, code: a, short: 甲}\n"
        "  - {name: 乙市, code: b, aliases: [甲]}\n", "utf-8")
    with pytest.raises(ConfigError, match=r"x\.yaml: cities\[1\]\.aliases\[0\]: '甲' already names 甲市"):
        load_province("x", tmp_path)
