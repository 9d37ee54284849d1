-- 附件1: the annual target of each city, per programme year.
CREATE TABLE IF NOT EXISTS targets (
    programme_year  INTEGER NOT NULL,
    city            TEXT    NOT NULL,
    city_order      INTEGER NOT NULL,   -- the province's fixed administrative order
    target_count    INTEGER NOT NULL,   -- 任务数
    PRIMARY KEY (programme_year, city)
)
