//! What Tenantry's tests and benchmarks share: real PostgreSQL clusters started from the
//! system's own binaries, and a throwaway OpenBAO dev server.

pub mod bao;
pub mod pg;
pub mod process;
