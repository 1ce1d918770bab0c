-- Plans created through the API (plans of the configuration are not stored here). A tenant
-- names its plan in registry_tenants.plan; a plan is removed only while no tenant names it.

CREATE TABLE registry_plans (
    name       TEXT PRIMARY KEY,
    limits     JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
