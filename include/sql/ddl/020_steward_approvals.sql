-- Every decision on a month's quality report (SPEC 6): approved | rejected | timed_out (no
-- answer within the response timeout: the default, reject, applies) | not_required (the run
-- sends nothing, e.g. a backfill). Rejected and timed-out months send nothing; this is their record.
CREATE TABLE IF NOT EXISTS steward_approvals (
    report_month   TEXT NOT NULL,
    run_id         TEXT NOT NULL,
    decision       TEXT NOT NULL,
    decided_by     TEXT,
    decided_at     TEXT NOT NULL,
    quality_report TEXT,
    note           TEXT,
    PRIMARY KEY (report_month, run_id, decided_at)
)
