-- Which findings file a month's findings were loaded from, and whether a falsification bulletin
-- was issued (issued_on: its 成文日期, the first working day after the last 核查日期).
CREATE TABLE IF NOT EXISTS spot_check_findings_loads (
    report_month     TEXT    NOT NULL PRIMARY KEY,
    findings_file    TEXT    NOT NULL,
    findings_sha256  TEXT    NOT NULL,
    snapshot_sha256  TEXT    NOT NULL,
    sampled          INTEGER NOT NULL,
    checked          INTEGER NOT NULL,
    falsified        INTEGER NOT NULL,
    bulletin_issued_on TEXT,
    bulletin_cities  TEXT                 -- 、-joined, administrative order
)
