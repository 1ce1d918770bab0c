//! Where every database stands on its migration chain.

use serde::{Deserialize, Serialize};

/// One database on one chain.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainStatus {
    /// `registry`, `shared`, `template`, `template <instance>` or `tenant <slug>`.
    pub target: String,
    /// `registry`, `shared` or `tenant`.
    pub chain: String,
    /// The newest applied version; absent when not read (see `recorded`) or on error.
    pub current: Option<i64>,
    /// The newest version this server ships.
    pub latest: i64,
    /// Migrations not yet applied, oldest first.
    pub pending: Vec<PendingMigration>,
    /// Up to date by the registry's record, so its database was not opened.
    pub recorded: bool,
    /// Why its state could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingMigration {
    pub version: i64,
    pub description: String,
}
