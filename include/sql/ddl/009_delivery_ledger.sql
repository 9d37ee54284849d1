-- One row per (month, document, recipient): at most one delivery each (SPEC 6), across retries,
-- reruns, clears and backfills. status: sending (claimed, before the message goes out) | sent |
-- failed (the server did not take it; the next attempt resends) | unknown (the outcome is not
-- known; never resent automatically, an operator settles it). See supervision/delivery.py.
CREATE TABLE IF NOT EXISTS delivery_ledger (
    report_month TEXT NOT NULL,
    document     TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    status       TEXT NOT NULL,
    channel      TEXT NOT NULL,      -- smtp | outbox
    message_id   TEXT,
    attempted_at TEXT NOT NULL,
    sent_at      TEXT,
    error        TEXT,
    PRIMARY KEY (report_month, document, recipient)
)
