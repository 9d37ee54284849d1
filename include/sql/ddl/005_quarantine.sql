-- Rows that failed a blocking rule, kept as they were in the file with their rule ids.
CREATE TABLE IF NOT EXISTS quarantine (
    report_month TEXT    NOT NULL,
    source_row   INTEGER NOT NULL,
    source_file  TEXT    NOT NULL,
    project_id   TEXT,
    city         TEXT,
    county       TEXT,
    name         TEXT,
    rule_ids     TEXT    NOT NULL,
    fields       TEXT,
    reasons      TEXT    NOT NULL,   -- the rules' Chinese descriptions
    details      TEXT,               -- each finding as field: value
    raw          TEXT,               -- the row's cells as read, JSON keyed by header
    PRIMARY KEY (report_month, source_row)
)
