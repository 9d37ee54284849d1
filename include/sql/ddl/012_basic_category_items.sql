-- N10: communities whose record omits basic-category (基础类) work, or whose central/provincial
-- money does not appear to go mainly to it (reason codes in docs/figures.md).
CREATE TABLE IF NOT EXISTS basic_category_items (
    report_month            TEXT    NOT NULL,
    seq                     INTEGER NOT NULL,
    city                    TEXT    NOT NULL,
    county                  TEXT    NOT NULL,
    name                    TEXT    NOT NULL,
    project_id              TEXT,
    plan_key                TEXT    NOT NULL,
    is_valid                BOOLEAN NOT NULL,
    reason                  TEXT    NOT NULL,   -- BASIC_CONTENT_MISSING | SUBSIDY_NOT_MAINLY_BASIC
    basic_count             INTEGER NOT NULL,
    improve_count           INTEGER NOT NULL,
    upgrade_count           INTEGER NOT NULL,
    central_provincial_yuan BIGINT  NOT NULL,
    planned_invest_yuan     BIGINT,
    basic_items             TEXT,
    improve_items           TEXT,
    upgrade_items           TEXT,
    PRIMARY KEY (report_month, seq)
)
