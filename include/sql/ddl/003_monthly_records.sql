-- One month's export, every row read (valid or not), replaced whole when the month is rerun.
-- Dates are ISO text (YYYY-MM-DD), money integer 元, so SQLite and PostgreSQL compare and sum
-- them identically.
CREATE TABLE IF NOT EXISTS monthly_records (
    report_month            TEXT    NOT NULL,   -- YYYY-MM, the data month
    source_row              INTEGER NOT NULL,   -- row number in the export file
    source_file             TEXT    NOT NULL,
    project_id              TEXT,
    city                    TEXT,
    county                  TEXT,
    street                  TEXT,
    address                 TEXT,
    name                    TEXT,
    plan_key                TEXT,
    households              INTEGER,
    buildings               INTEGER,
    area                    DOUBLE PRECISION,
    built_year              INTEGER,
    ownership               TEXT,
    planned_content         TEXT,
    status                  TEXT,
    start_date              TEXT,
    finish_date             TEXT,
    planned_invest_yuan     BIGINT,
    done_invest_yuan        BIGINT,
    central_subsidy_yuan    BIGINT,
    central_budget_yuan     BIGINT,
    provincial_subsidy_yuan BIGINT,
    local_funds_yuan        BIGINT,
    social_funds_yuan       BIGINT,
    basic_items             TEXT,
    improve_items           TEXT,
    upgrade_items           TEXT,
    elevators               INTEGER,
    impl_officer            TEXT,
    impl_phone              TEXT,
    sup_officer             TEXT,
    sup_phone               TEXT,
    reported_at             TEXT,               -- YYYY-MM-DD HH:MM:SS
    reported_date           TEXT,
    review_status           TEXT,
    reviewed_at             TEXT,
    unreadable              TEXT,               -- JSON: field -> the cell as written, for cells that could not be read
    plan_mismatch           TEXT,               -- declared facts differing from the plan (N12)
    is_valid                BOOLEAN NOT NULL,   -- no blocking quality finding
    PRIMARY KEY (report_month, source_row)
)
