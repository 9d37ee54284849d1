-- N11: communities with elevator installation (加装电梯) under way in the month's snapshot.
CREATE TABLE IF NOT EXISTS elevator_works (
    report_month        TEXT    NOT NULL,
    seq                 INTEGER NOT NULL,
    city                TEXT    NOT NULL,
    county              TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    project_id          TEXT,
    plan_key            TEXT    NOT NULL,
    is_valid            BOOLEAN NOT NULL,
    elevators           INTEGER NOT NULL,
    status              TEXT    NOT NULL,
    start_date          TEXT,
    planned_invest_yuan BIGINT,
    done_invest_yuan    BIGINT,
    impl_officer        TEXT,
    impl_phone          TEXT,
    sup_officer         TEXT,
    sup_phone           TEXT,
    PRIMARY KEY (report_month, seq)
)
