-- Host bindings: which tenant an enrolled host belongs to, so a host credential resolves
-- its tenant without touching any tenant database. One binding per machine per tenant:
-- re-enrolling the same machine finds it again. Purged with the tenant.

CREATE TABLE registry_host_bindings (
    host_id             BLOB PRIMARY KEY,
    tenant_id           BLOB NOT NULL REFERENCES registry_tenants (id) ON DELETE CASCADE,
    machine_id          TEXT NOT NULL,
    enrollment_token_id BLOB,
    created_at          TEXT NOT NULL,
    UNIQUE (tenant_id, machine_id)
);
