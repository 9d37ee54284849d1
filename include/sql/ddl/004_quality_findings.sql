-- Every quality finding of a month: one row per (source row, rule, field); city-level findings
-- (PLAN_COUNT_MISMATCH) have no source row.
CREATE TABLE IF NOT EXISTS quality_findings (
    report_month TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    source_row   INTEGER,
    project_id   TEXT,
    city         TEXT,
    rule_id      TEXT    NOT NULL,
    severity     TEXT    NOT NULL,   -- blocking | warning
    field        TEXT,
    value        TEXT,
    PRIMARY KEY (report_month, seq)
)
