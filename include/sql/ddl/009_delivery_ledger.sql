-- Every message that left (or tried to leave): at most one 'sent' per (month, document, recipient).
CREATE TABLE IF NOT EXISTS delivery_ledger (
    report_month TEXT NOT NULL,
    document     TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    status       TEXT NOT NULL,      -- sent | failed
    channel      TEXT NOT NULL,      -- smtp | outbox
    message_id   TEXT,
    attempted_at TEXT NOT NULL,
    sent_at      TEXT,
    error        TEXT,
    PRIMARY KEY (report_month, document, recipient)
)
