//! Tenantry's server library. The folders follow the request path and the lifecycle:
//!
//! - [`config`]: typed, validated configuration.
//! - [`names`]: the slug rule and every physical name derived from a slug.
//! - [`secret`]: secrets that never print, and the operator key format.
//! - [`store`]: the storage backend seam ([`store::Db`]) and tenant storage per isolation mode.
//! - [`catalog`]: the registry partition (tenants, domains, versions, audit, keys).
//! - [`auth`]: principals from credentials.
//! - [`identity`]: trusted public keys, JWT verification and minting.
//! - [`broker`]: credentials for tenant databases (static; OpenBAO leases later).
//! - [`routing`]: the routing snapshot and the resolver.
//! - [`pools`]: the bounded tenant → pool map.
//! - [`scheduler`]: placement of new tenants on instances (pure, no I/O).
//! - [`provisioner`]: tenant creation and verified purge.
//! - [`migrator`]: the registry, shared and tenant chains, applied to one database.
//! - [`fanout`]: the chains run over every database Tenantry keeps.
//! - [`fleet`]: the workload data in each tenant's database.
//! - [`http`]: the API, one module per area.
//! - [`verify`]: routing verification from the databases themselves.
//! - [`core`] and [`app`]: what commands open, and the server's build/run split.

pub mod app;
pub mod auth;
pub mod broker;
pub mod catalog;
pub mod config;
pub mod core;
pub mod fanout;
pub mod fleet;
pub mod http;
pub mod identity;
pub mod migrator;
pub mod names;
pub mod options;
pub mod pools;
pub mod provisioner;
pub mod routing;
pub mod scheduler;
pub mod secret;
pub mod store;
pub mod telemetry;
pub mod ui;
pub mod verify;
