-- Enrollment tokens: shown once, stored only as a SHA-256 hash. An agent exchanges one for
-- a host credential (step 5). Purged with their tenant.

CREATE TABLE registry_enrollment_tokens (
    id         BLOB PRIMARY KEY,
    tenant_id  BLOB NOT NULL REFERENCES registry_tenants (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    labels     TEXT NOT NULL DEFAULT '{}',
    max_uses   INTEGER,
    uses       INTEGER NOT NULL DEFAULT 0,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX registry_enrollment_tokens_tenant ON registry_enrollment_tokens (tenant_id);
