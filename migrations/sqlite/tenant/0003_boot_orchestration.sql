-- Boot orchestration (BOS-style): session templates, sessions, and each host's desired and
-- actual state as a component. Names are unique within the tenant only.

CREATE TABLE session_templates (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    boot_sets   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE sessions (
    id            BLOB PRIMARY KEY,
    template_name TEXT NOT NULL,
    operation     TEXT NOT NULL,
    session_limit TEXT,
    stage         INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL,
    targets       TEXT NOT NULL,
    error         TEXT,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    completed_at  TEXT,
    timeout_at    TEXT NOT NULL
);
CREATE INDEX sessions_status ON sessions (status);

ALTER TABLE hosts ADD COLUMN desired_state TEXT;
ALTER TABLE hosts ADD COLUMN actual_state TEXT;
