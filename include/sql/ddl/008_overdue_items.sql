-- The overdue list: one row per plan community and reason code (SPEC §3).
CREATE TABLE IF NOT EXISTS overdue_items (
    report_month TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    city         TEXT    NOT NULL,
    county       TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    project_id   TEXT,
    reason       TEXT    NOT NULL,
    detail       TEXT,
    plan_key     TEXT    NOT NULL,
    PRIMARY KEY (report_month, seq)
)
