from datetime import date

import pytest

from supervision.errors import LandingError
from supervision.landing import cutoff_for, list_snapshots, snapshot_for
from supervision.months import Month


def _landing(tmp_path, names):
    exports = tmp_path / "exports"
    exports.mkdir()
    for name in names:
        (exports / name).write_bytes(b"x")
    return tmp_path


def test_cutoff_is_the_first_of_the_next_month():
    assert cutoff_for(Month(2020, 6)) == date(2020, 7, 1)
    assert cutoff_for(Month(2020, 12)) == date(2021, 1, 1)


def test_newest_snapshot_on_or_before_the_cutoff_never_a_later_one(tmp_path):
    landing = _landing(tmp_path, ["e_2020-06-01.xlsx", "e_2020-06-15.xlsx", "e_2020-07-01.xlsx",
                                  "e_2020-07-03.csv", "e_2020-08-01.xlsx"])
    assert snapshot_for(landing, Month(2020, 6)).name == "e_2020-07-01.xlsx"
    assert snapshot_for(landing, Month(2020, 5)).name == "e_2020-06-01.xlsx"
    assert snapshot_for(landing, Month(2020, 7)).name == "e_2020-08-01.xlsx"
    # a backfill of June run after the 3 July re-export still uses the 1 July snapshot
    assert snapshot_for(landing, Month(2020, 6)).taken_on == date(2020, 7, 1)


def test_no_snapshot_for_the_month_names_the_month(tmp_path):
    landing = _landing(tmp_path, ["e_2020-08-01.xlsx"])
    with pytest.raises(LandingError, match="2020-06"):
        snapshot_for(landing, Month(2020, 6))


def test_export_without_date_in_its_name_is_refused(tmp_path):
    landing = _landing(tmp_path, ["e_2020-07-01.xlsx", "导出数据.xlsx"])
    with pytest.raises(LandingError, match="导出数据.xlsx.*snapshot date is missing"):
        list_snapshots(landing)


def test_two_snapshots_of_one_day_are_ambiguous(tmp_path):
    landing = _landing(tmp_path, ["a_2020-07-01.xlsx", "b_2020-07-01.csv"])
    with pytest.raises(LandingError, match="more than one snapshot"):
        snapshot_for(landing, Month(2020, 6))


def test_other_files_in_exports_are_refused(tmp_path):
    landing = _landing(tmp_path, ["e_2020-07-01.xlsx", "readme.txt"])
    with pytest.raises(LandingError, match="readme.txt"):
        list_snapshots(landing)
