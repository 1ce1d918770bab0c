-- Tenant partition: one tenant's operational data, in that tenant's own database.

CREATE TABLE hosts (
    id           BLOB PRIMARY KEY,
    hostname     TEXT NOT NULL UNIQUE,
    os           TEXT,
    labels       TEXT NOT NULL DEFAULT '{}',
    created_at   TEXT NOT NULL,
    last_seen_at TEXT
);
