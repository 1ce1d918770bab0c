-- Registry partition: the tenant catalog and everything needed to route to a tenant
-- without touching tenant databases.

CREATE TABLE registry_tenants (
    id            UUID PRIMARY KEY,
    slug          TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('provisioning', 'active', 'suspended', 'deleting')),
    isolation     TEXT NOT NULL CHECK (isolation IN ('file', 'database', 'schema', 'collapsed')),
    instance      TEXT NOT NULL,
    physical_name TEXT NOT NULL,
    limits        JSONB NOT NULL DEFAULT '{}',
    settings      JSONB NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX registry_tenants_instance ON registry_tenants (instance);

-- Exact-match domains; a domain points at exactly one tenant.
CREATE TABLE registry_domains (
    domain     TEXT PRIMARY KEY,
    tenant_id  UUID NOT NULL REFERENCES registry_tenants (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX registry_domains_tenant ON registry_domains (tenant_id);

-- The migration version each tenant database is at, per chain, so an up-to-date tenant
-- is skipped without connecting to it.
CREATE TABLE registry_tenant_versions (
    tenant_id  UUID NOT NULL REFERENCES registry_tenants (id) ON DELETE CASCADE,
    chain      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, chain)
);

-- Kept forever, including for deleted tenants: no foreign key on purpose.
CREATE TABLE registry_audit_events (
    id          UUID PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    tenant_slug TEXT,
    tenant_id   UUID,
    request_id  TEXT,
    detail      JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX registry_audit_events_tenant ON registry_audit_events (tenant_slug, at);

-- Operator API keys, stored only as SHA-256 hashes of the key.
CREATE TABLE registry_api_keys (
    id         UUID PRIMARY KEY,
    key_hash   TEXT NOT NULL UNIQUE,
    label      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
