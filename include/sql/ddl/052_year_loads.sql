-- What a programme year's registry tables hold: a fingerprint of the rows last written to
-- plan_communities (and targets) for the year, so that a month's run rewrites them only when
-- they change (the plan is filed once a year; at national scale it is 300,000 rows).
CREATE TABLE IF NOT EXISTS year_loads (
    programme_year  INTEGER NOT NULL,
    table_name      TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,   -- SHA-256 of the rows' contents, columns and types
    row_count       INTEGER NOT NULL,
    PRIMARY KEY (programme_year, table_name)
)
