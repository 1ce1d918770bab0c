-- The trust store: public keys whose signatures on tenant tokens are accepted. The kid is
-- the hex SHA-256 of the key's SubjectPublicKeyInfo DER; the algorithm used to verify a
-- token is this row's, never the token's.

CREATE TABLE registry_trusted_keys (
    kid        TEXT PRIMARY KEY,
    algorithm  TEXT NOT NULL CHECK (algorithm IN ('RS256', 'EdDSA')),
    public_key TEXT NOT NULL,
    -- Tokens signed with a restricted key may only name this tenant; purged with it.
    tenant_id  BLOB REFERENCES registry_tenants (id) ON DELETE CASCADE,
    comment    TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX registry_trusted_keys_tenant ON registry_trusted_keys (tenant_id);
