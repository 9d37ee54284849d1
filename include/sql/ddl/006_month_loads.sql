-- Which inputs a month was computed from. kind = 'full' for a month's own run, 'reference' when
-- it was loaded only as the previous month of another month's run (its figures feed 较上月).
CREATE TABLE IF NOT EXISTS month_loads (
    report_month     TEXT    NOT NULL PRIMARY KEY,
    programme_year   INTEGER NOT NULL,
    kind             TEXT    NOT NULL,
    snapshot_file    TEXT    NOT NULL,
    snapshot_date    TEXT    NOT NULL,
    snapshot_sha256  TEXT    NOT NULL,
    plan_sha256      TEXT    NOT NULL,
    targets_sha256   TEXT    NOT NULL,
    rows_read        INTEGER NOT NULL,
    rows_accepted    INTEGER NOT NULL,
    rows_quarantined INTEGER NOT NULL
)
