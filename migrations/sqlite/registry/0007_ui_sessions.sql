-- Admin UI sessions, shared by every server on this registry (when no Redis holds them).
-- Keyed by the SHA-256 of the session id; the session itself (who, the credential, the
-- CSRF token, pending messages) is sealed with a key derived from the id, which only the
-- browser's cookie holds: a copy of this table opens no session.

CREATE TABLE registry_ui_sessions (
    id_hash    TEXT PRIMARY KEY,
    sealed     BLOB NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX registry_ui_sessions_expires ON registry_ui_sessions (expires_at);
