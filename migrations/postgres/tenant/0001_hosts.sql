-- Tenant partition: one tenant's operational data, in that tenant's own database or schema.
-- Unqualified names: in schema mode the search_path is the tenant's schema.

CREATE TABLE hosts (
    id           UUID PRIMARY KEY,
    hostname     TEXT NOT NULL UNIQUE,
    os           TEXT,
    labels       JSONB NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ
);
