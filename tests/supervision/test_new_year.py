"""`make new-year`: the next programme file with every month and date moved, what a person
must decide marked in the file and printed, the file validated."""
from __future__ import annotations

import shutil

import pytest
import yaml

from supervision import config, new_year, paths


@pytest.fixture()
def cfg(tmp_path):
    target = tmp_path / "config"
    shutil.copytree(paths.config_dir(), target)
    return target


def test_the_next_year_has_every_month_and_date_moved(cfg, capsys):
    assert new_year.main(["--year", "2021", "--config-dir", str(cfg)]) == 0
    old = yaml.safe_load((cfg / "programmes" / "2020.yaml").read_text("utf-8"))
    new = yaml.safe_load((cfg / "programmes" / "2021.yaml").read_text("utf-8"))
    assert new["year"] == 2021
    assert (new["first_month"], new["last_month"]) == ("2021-05", "2022-01")
    assert str(new["deadlines"]["start"]) == "2021-10-31"
    assert str(new["deadlines"]["investment"]) == "2021-12-31"
    assert new["expected_path"]["start_rate"] == {"from": "2021-04", "to": "2021-10", "target": 1.0}
    assert new["documents"]["mid_year_bulletin"]["month"] == "2021-06"
    assert new["documents"]["year_end_bulletin"]["month"] == "2021-12"
    assert "2021年度" in new["documents"]["basis"] and "〔2021〕" in new["documents"]["basis"]
    # what is not year-specific is kept as it was
    assert new["weights"] == old["weights"] and new["schedule"] == old["schedule"]
    assert new["documents"]["organs"] == old["documents"]["organs"]
    # it loads as any programme does
    programme = config.load_programme(2021, cfg)
    assert programme.covers(config.Month(2021, 5)) and not programme.covers(config.Month(2021, 4))
    printed = capsys.readouterr().out
    assert "(valid)" in printed and "working-day calendar" in printed


def test_what_a_person_must_decide_is_marked_and_printed(cfg, capsys):
    new_year.main(["--year", "2021", "--config-dir", str(cfg)])
    text = (cfg / "programmes" / "2021.yaml").read_text("utf-8")
    printed = capsys.readouterr().out
    for key in ("documents.basis", "deadlines", "weights", "documents.monthly_bulletin.number",
                "documents.supervision_notice.number", "documents.mid_year_bulletin.month",
                "documents.year_end_bulletin.month", "documents.supervision_notice.quotation"):
        assert f"  {key} = " in printed, key
        assert f"# DECIDE: {new_year.DECISIONS[key]}" in text, key
    lines = text.splitlines()
    # each mark stands right above its key
    i = lines.index(f"  # DECIDE: {new_year.DECISIONS['documents.basis']}")
    assert lines[i + 1].startswith("  basis: ")


def test_from_picks_the_source_and_years_are_checked(cfg):
    with pytest.raises(config.ConfigError, match="must come after"):
        new_year.new_year(2020, 2020, cfg)
    with pytest.raises(config.ConfigError, match="no such programme file"):
        new_year.new_year(2022, 2019, cfg)
    with pytest.raises(config.ConfigError, match="no programme year before 2019"):
        new_year.new_year(2019, None, cfg)
    path, _, _ = new_year.new_year(2022, 2020, cfg)        # two years on
    assert yaml.safe_load(path.read_text("utf-8"))["deadlines"]["start"].isoformat() == "2022-10-31"
    with pytest.raises(config.ConfigError, match="exists already"):
        new_year.new_year(2022, 2020, cfg)
    assert new_year.new_year(2022, 2020, cfg, force=True)[0] == path


def test_a_moved_file_that_would_be_invalid_is_not_written(cfg):
    source = cfg / "programmes" / "2020.yaml"
    source.write_text(source.read_text("utf-8").replace("investment: 2020-12-31",
                                                        "investment: 2020-09-30"), "utf-8")
    with pytest.raises(config.ConfigError, match=r"2021\.yaml: deadlines\.investment"):
        new_year.new_year(2021, 2020, cfg)
    assert not (cfg / "programmes" / "2021.yaml").exists()


def test_29_february_becomes_28_february():
    assert new_year.move_dates("a: 2020-02-29, b: 2020-02", 1) == "a: 2021-02-28, b: 2021-02"
    assert new_year.move_dates("2020年度（湘建城〔2020〕44号）", 1) == "2021年度（湘建城〔2021〕44号）"
