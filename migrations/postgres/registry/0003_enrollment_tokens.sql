-- Enrollment tokens: shown once, stored only as a SHA-256 hash. An agent exchanges one for
-- a host credential (step 5). Purged with their tenant.

CREATE TABLE registry_enrollment_tokens (
    id         UUID PRIMARY KEY,
    tenant_id  UUID NOT NULL REFERENCES registry_tenants (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    labels     JSONB NOT NULL DEFAULT '{}',
    max_uses   BIGINT,
    uses       BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX registry_enrollment_tokens_tenant ON registry_enrollment_tokens (tenant_id);
