//! End-to-end tests against the real `tenantry` binary and its real SQLite files.

mod support;

mod agent;
mod auth;
mod bad_input;
mod bad_text;
mod boot;
mod browser;
mod cli;
mod collapsed;
mod config;
mod crash;
mod dev_stack;
mod enrollment;
mod faults;
pub mod hangup;
mod hosts;
pub mod identity;
mod incarnation;
mod isolation;
mod lifecycle;
mod limits;
mod media;
pub mod migrate;
mod openapi;
mod openbao;
mod policy;
mod postgres;
mod reconcile;
mod refusals;
mod replicas;
mod resolution;
mod restart;
mod slugs;
mod tls;
pub mod ui;
mod verify;
