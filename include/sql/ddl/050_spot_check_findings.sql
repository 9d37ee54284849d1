-- The inspectors' findings of a month's spot-check sample (N8), compared with what that month's
-- counted record reported: one row per sampled record. conclusion: CONSISTENT | STATUS_FALSIFIED
-- | INVESTMENT_OVERSTATED | NOT_CHECKED (supervision/findings/). Money in integer 元.
-- A record found both with a false status and overstated money has conclusion STATUS_FALSIFIED
-- and investment_overstated = TRUE.
CREATE TABLE IF NOT EXISTS spot_check_findings (
    report_month          TEXT    NOT NULL,
    city                  TEXT    NOT NULL,
    city_order            INTEGER NOT NULL,
    draw                  INTEGER NOT NULL,
    project_id            TEXT    NOT NULL,
    plan_key              TEXT    NOT NULL,
    county                TEXT,
    name                  TEXT,
    reported_status       TEXT,
    verified_status       TEXT,
    reported_invest_yuan  BIGINT,
    verified_invest_yuan  BIGINT,
    conclusion            TEXT    NOT NULL,
    investment_overstated BOOLEAN NOT NULL,
    verified_note         TEXT,               -- the inspector's own words (核实结论)
    inspector             TEXT,
    checked_on            TEXT,
    impl_officer          TEXT,
    sup_officer           TEXT,
    signals               TEXT,               -- the quality stage's falsification signals of the record
    source_row            INTEGER,            -- row of the findings file (NULL: not returned)
    PRIMARY KEY (report_month, project_id)
)
