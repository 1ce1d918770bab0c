//! What Tenantry's tests and benchmarks share: real PostgreSQL clusters started from the
//! system's own binaries, a throwaway OpenBAO dev server and a throwaway Redis.

pub mod bao;
pub mod pg;
pub mod process;
pub mod redis;
