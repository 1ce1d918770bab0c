//! What Tenantry's tests and benchmarks share: real PostgreSQL clusters started from the
//! system's own binaries, a throwaway OpenBAO dev server, a throwaway Redis and a throwaway
//! S3-compatible server.

pub mod bao;
pub mod pg;
pub mod process;
pub mod redis;
pub mod s3;
