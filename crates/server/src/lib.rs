//! Tenantry's server library. Modules in layers, lowest first; each imports only its own
//! layer or lower ones (`tests/layers.rs` checks it, decision 0012):
//!
//! 1. [`names`]: the slug rule and every physical name; [`secret`]: secrets that never
//!    print, and the operator key format.
//! 2. [`store`]: the storage backend seam ([`store::Db`]), tenant storage, one module per
//!    isolation mode ([`store::isolation`]) and the credential seam
//!    ([`store::credentials`]).
//! 3. [`config`]: typed, validated configuration; [`migrator`]: the three chains applied
//!    to one database, and templates; [`fleet`]: the workload data in each tenant's
//!    storage; [`scheduler`]: placement (pure); [`options`], [`telemetry`]; [`tls`]:
//!    the server's certificates and its HTTPS listener.
//! 4. [`catalog`]: the registry partition, every operation measured; [`broker`]: the
//!    credential sources (static, OpenBAO); [`identity`]: principals, trusted keys,
//!    JWTs; [`pools`]: the bounded tenant → pool map and the connection budget.
//! 5. [`routing`]: the routing snapshot and the resolver.
//! 6. [`auth`]: principals from credentials, and the policy; [`core`]: what every command
//!    opens.
//! 7. [`provisioner`]: tenant creation, verified purge, reconcile; [`fanout`]: the chains
//!    run over every database; [`verify`]: routing verification from the storage itself.
//! 8. [`http`]: the API, one module per area. 9. [`ui`]: the admin UI, which calls the API.
//! 10. [`app`]: the server's build/run split; composes the API and the UI.

pub mod app;
pub mod auth;
pub mod broker;
pub mod cache;
pub mod catalog;
pub mod config;
pub mod core;
pub mod fanout;
pub mod fleet;
pub mod http;
pub mod identity;
pub mod limits;
pub mod media;
pub mod migrator;
pub mod names;
pub mod options;
pub mod pools;
pub mod provisioner;
pub mod routing;
pub mod scheduler;
pub mod secret;
pub mod shares;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod ui;
pub mod verify;
