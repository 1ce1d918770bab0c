-- Shared partition: reference data and settings identical for every tenant.

CREATE TABLE shared_options (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
