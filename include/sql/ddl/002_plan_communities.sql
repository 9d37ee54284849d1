-- 附件2: the plan registry, one row per community as filed (the facts N12 compares against).
CREATE TABLE IF NOT EXISTS plan_communities (
    programme_year  INTEGER NOT NULL,
    plan_key        TEXT    NOT NULL,   -- NFKC(市州|所在县市区|小区名称) without whitespace
    source_file     TEXT    NOT NULL,   -- the plan registry file the row was read from
    source_row      INTEGER NOT NULL,   -- its row number in that file
    city            TEXT    NOT NULL,
    county          TEXT    NOT NULL,
    street          TEXT,
    address         TEXT,
    name            TEXT    NOT NULL,   -- the plan's own spelling, shown in documents
    households      INTEGER,
    buildings       INTEGER,
    area            DOUBLE PRECISION,   -- 万平方米
    built_year      INTEGER,
    ownership       TEXT,
    planned_content TEXT,
    impl_officer    TEXT,
    impl_phone      TEXT,
    sup_officer     TEXT,
    sup_phone       TEXT,
    unreadable      TEXT,               -- JSON: field -> cell as written, for cells that could not be read
    PRIMARY KEY (programme_year, plan_key)
)
