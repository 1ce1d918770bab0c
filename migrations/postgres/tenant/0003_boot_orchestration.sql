-- Boot orchestration (BOS-style): session templates, sessions, and each host's desired and
-- actual state as a component. Names are unique within the tenant only.

CREATE TABLE session_templates (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    boot_sets   JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    id            UUID PRIMARY KEY,
    template_name TEXT NOT NULL,
    operation     TEXT NOT NULL,
    session_limit TEXT,
    stage         BOOLEAN NOT NULL DEFAULT FALSE,
    status        TEXT NOT NULL,
    targets       JSONB NOT NULL,
    error         TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    started_at    TIMESTAMPTZ,
    completed_at  TIMESTAMPTZ,
    timeout_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_status ON sessions (status);

ALTER TABLE hosts ADD COLUMN desired_state JSONB;
ALTER TABLE hosts ADD COLUMN actual_state JSONB;
