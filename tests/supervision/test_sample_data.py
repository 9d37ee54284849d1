import hashlib
import json

from supervision.ingest import load_plan, load_targets
from supervision.config import load_province
from supervision.readers import read_table
from supervision.sample_data import TARGETS_2020, generate, scaled_targets


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_targets_are_annex_1_exactly(sample_landing):
    province = load_province("hunan")
    targets = load_targets(sample_landing / "targets" / "2020.csv", province).frame
    assert dict(zip(targets.city, targets.target_count)) == dict(TARGETS_2020)
    assert targets.target_count.sum() == 1000
    assert list(targets.city) == province.city_names  # administrative order, not 附件1's


def test_plan_registry_in_annex_2_layout(sample_landing):
    table = read_table(sample_landing / "plan" / "2020.xlsx", "plan")
    assert table.header_row == 5  # 附件2, title, stamps, 制表联系人 above the header
    assert any(s.reason == "note" for s in table.skipped)
    province = load_province("hunan")
    plan = load_plan(sample_landing / "plan" / "2020.xlsx", province,
                     [c for c, _ in TARGETS_2020]).frame
    assert len(plan) == 1000
    assert plan.impl_phone.notna().all() and plan.impl_officer.notna().all()


def test_same_seed_same_bytes(tmp_path, sample_landing):
    generate(tmp_path, seed=2020, communities=1000)
    assert _digest(tmp_path) == _digest(sample_landing)


def test_scaled_targets_keep_the_total():
    assert sum(n for _, n in scaled_targets(30000)) == 30000
    assert sum(n for _, n in scaled_targets(777)) == 777


def test_problems_are_a_few_percent(sample_landing):
    truth = json.loads((sample_landing / "_generator" / "truth.json").read_text("utf-8"))
    june = truth["snapshots"]["2020-07-01"]
    assert 0 < len(june["glitches"]) < 60
    assert june["missing"]
