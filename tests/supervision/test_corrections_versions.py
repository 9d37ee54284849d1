"""The version records on both warehouses: a frozen folder, the attachments of each delivery,
what each recipient holds, and a sent version that is never frozen again."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from supervision import warehouse
from supervision.corrections import versions as vs
from supervision.delivery import claim, settle

MONTH = "2020-06"
AT = "2020-07-02T01:00:00+00:00"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'versions.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database("versions")
    engine = warehouse.connect(url)
    yield engine
    engine.dispose()


def clock():
    return datetime(2020, 7, 2, 1, 0, tzinfo=timezone.utc)


def test_versions_attachments_and_holdings(engine, tmp_path):
    out = tmp_path / "out"
    live = out / MONTH
    (live / "notices").mkdir(parents=True)
    (live / "monthly_bulletin.pdf").write_bytes(b"v1 bulletin")
    (live / "notices" / "changsha.pdf").write_bytes(b"v1 notice")
    folder = vs.freeze(engine, out, MONTH, 1, None, 0, clock)
    assert (folder / "monthly_bulletin.pdf").read_bytes() == b"v1 bulletin"
    assert vs.last_delivered(engine, MONTH) is None          # frozen, nothing handed over yet
    vs.mark(engine, MONTH, 1, vs.SENDING)
    sha = vs.outputs.sha256_file(folder / "monthly_bulletin.pdf")
    rows = [("monthly_bulletin", "a@x.cn", 1, "monthly_bulletin.pdf", sha),
            ("monthly_bulletin", "b@x.cn", 1, "monthly_bulletin.pdf", sha)]
    assert vs.record_attachments(engine, MONTH, rows) == 2
    assert vs.record_attachments(engine, MONTH, rows) == 0    # recorded once
    for r in ("a@x.cn", "b@x.cn"):
        assert claim(engine, MONTH, "monthly_bulletin", r, "smtp", "<id>", AT)
    settle(engine, MONTH, "monthly_bulletin", "a@x.cn", "sent", at=AT)
    settle(engine, MONTH, "monthly_bulletin", "b@x.cn", "failed", error="550")
    # only what the ledger records as sent is held
    assert vs.received(engine, MONTH, 2) == {"a@x.cn": {"monthly_bulletin.pdf": sha}}
    assert vs.sent_on(engine, MONTH, 1) == "2020-07-02"
    assert vs.last_delivered(engine, MONTH)["version"] == 1
    # a version that went out is never frozen again, whatever the live folder holds now
    (live / "monthly_bulletin.pdf").write_bytes(b"v2 bulletin")
    vs.freeze(engine, out, MONTH, 1, None, 0, clock)
    assert (folder / "monthly_bulletin.pdf").read_bytes() == b"v1 bulletin"
    # keys carry the version
    assert vs.versioned_key("erratum", 2) == "erratum@v2" and vs.key_version("erratum@v2") == 2
    assert vs.versioned_key("notice:changsha", 1) == "notice:changsha"


def test_an_undelivered_draft_is_dropped(engine, tmp_path):
    out = tmp_path / "out"
    (out / MONTH).mkdir(parents=True)
    (out / MONTH / "ranking.csv").write_text("x", "utf-8")
    drafted = vs.ensure_draft(engine, MONTH, 2, 1, 3, clock)
    assert vs.ensure_draft(engine, MONTH, 2, 1, 4, lambda: datetime.now(timezone.utc)) == drafted
    vs.freeze(engine, out, MONTH, 2, 1, 4, clock)
    assert vs.drop_undelivered(engine, out, MONTH) == 1
    assert vs.versions(engine, MONTH) == [] and not vs.version_dir(out, MONTH, 2).exists()
