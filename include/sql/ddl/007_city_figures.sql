-- The published figures of a month, one row per city plus the 全省 row (city = '全省').
-- Every rate is numerator / denominator of the integer columns (exact; see docs/figures.md) and
-- is stored as the nearest double, NULL when the denominator is 0 (an empty rate).
-- score_cents is 综合得分 × 100, exact (half-up). Ranks are competition ranks (1, 2, 2, 4) among
-- the cities on the exact values; the 全省 row has a score and no rank.
CREATE TABLE IF NOT EXISTS city_figures (
    report_month          TEXT    NOT NULL,
    city                  TEXT    NOT NULL,
    city_order            INTEGER NOT NULL,   -- administrative order; 全省 sorts last
    target_count          INTEGER NOT NULL,   -- 任务数
    plan_count            INTEGER NOT NULL,   -- plan communities (报送及时率 denominator)
    plan_households       BIGINT  NOT NULL,
    started_count         INTEGER NOT NULL,   -- 累计开工数
    started_households    BIGINT  NOT NULL,
    finished_count        INTEGER NOT NULL,   -- 累计完工数
    planned_invest_yuan   BIGINT  NOT NULL,   -- 计划投资额, 元
    done_invest_yuan      BIGINT  NOT NULL,   -- 累计完成投资额, 元
    timely_count          INTEGER NOT NULL,
    start_rate            DOUBLE PRECISION,   -- started_count / target_count
    households_start_rate DOUBLE PRECISION,   -- started_households / plan_households
    finish_rate           DOUBLE PRECISION,   -- finished_count / target_count
    investment_rate       DOUBLE PRECISION,   -- done_invest_yuan / planned_invest_yuan
    timely_rate           DOUBLE PRECISION,   -- timely_count / plan_count
    score_cents           INTEGER NOT NULL,
    score_rank            INTEGER,            -- 排名 (NULL on 全省)
    start_rate_rank       INTEGER,
    investment_rate_rank  INTEGER,
    timely_rate_rank      INTEGER,
    start_rate_change     DOUBLE PRECISION,   -- percentage points against the previous month
    investment_rate_change DOUBLE PRECISION,
    timely_rate_change    DOUBLE PRECISION,
    rank_change           INTEGER,            -- previous rank − rank (positive = moved up)
    lagging               BOOLEAN NOT NULL,   -- start_lagging OR investment_lagging
    households_start_rate_rank   INTEGER,
    finish_rate_rank             INTEGER,
    households_start_rate_change DOUBLE PRECISION,
    finish_rate_change           DOUBLE PRECISION,
    list_order            INTEGER,            -- position in the ranking listing (NULL on 全省)
    expected_start_rate   DOUBLE PRECISION,   -- the expected path at the end of the month
    expected_investment_rate DOUBLE PRECISION,
    start_lagging         BOOLEAN NOT NULL,   -- 开工率 strictly below expected_start_rate
    investment_lagging    BOOLEAN NOT NULL,   -- 投资完成率 strictly below expected_investment_rate
    PRIMARY KEY (report_month, city)
)
