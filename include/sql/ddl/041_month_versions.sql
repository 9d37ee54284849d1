-- The published versions of a month (SPEC 6, corrections): version 1 is what the first send
-- delivered, version N+1 the correction of version N (erratum + corrected documents). status:
-- draft (a correction rendered, not yet approved and sent; its drafted_at dates the erratum) |
-- frozen (files copied to <M>/sent/v<N>/, nothing handed over yet) | sending (delivery started)
-- | sent (every recipient reached). A version that is sending or sent is never overwritten.
CREATE TABLE IF NOT EXISTS month_versions (
    report_month       TEXT NOT NULL,
    version            INTEGER NOT NULL,
    status             TEXT NOT NULL,
    corrects_version   INTEGER,          -- NULL for version 1
    drafted_at         TEXT NOT NULL,
    frozen_at          TEXT,
    sent_at            TEXT,
    folder             TEXT,             -- <M>/sent/v<N>, relative to the output folder
    files              TEXT,             -- JSON {path: sha256} of the frozen folder
    changes            INTEGER NOT NULL, -- values changed against corrects_version (0 for v1)
    recipients         INTEGER,          -- distinct addresses the version was sent to
    summary            TEXT,             -- "corrected: N values changed since sent on DATE; ..."
    PRIMARY KEY (report_month, version)
)
