-- What each delivery of the ledger carried (SPEC 6, corrections): one row per (month, document,
-- recipient, attachment) with the attachment's SHA-256, written before the message goes out (the
-- files come from the frozen version folder <M>/sent/v<N>/, which never changes). Joined with
-- delivery_ledger on (report_month, document, recipient); document carries the version
-- ("monthly_bulletin" = version 1, "erratum@v2" = version 2, ...). See supervision/corrections.
CREATE TABLE IF NOT EXISTS delivery_attachments (
    report_month TEXT NOT NULL,
    document     TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    version      INTEGER NOT NULL,
    attachment   TEXT NOT NULL,      -- path inside the month folder, e.g. notices/changsha.pdf
    sha256       TEXT NOT NULL,
    PRIMARY KEY (report_month, document, recipient, attachment)
)
