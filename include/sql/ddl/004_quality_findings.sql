-- Every quality finding of a month: one row per (source row, rule, field). source_row is the
-- row of the export file; it is NULL for findings about a file as a whole (SUMMARY_MISMATCH), a
-- row of the plan registry (PLAN_VALUE_UNREADABLE: source_file names the plan, value the row) or
-- a city (PLAN_COUNT_MISMATCH).
CREATE TABLE IF NOT EXISTS quality_findings (
    report_month TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    source_file  TEXT,
    source_row   INTEGER,
    project_id   TEXT,
    city         TEXT,
    rule_id      TEXT    NOT NULL,
    severity     TEXT    NOT NULL,   -- blocking | warning
    field        TEXT,
    value        TEXT,               -- what was found, as the report shows it
    PRIMARY KEY (report_month, seq)
)
