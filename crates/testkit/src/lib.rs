//! What Tenantry's tests and benchmarks share: real PostgreSQL clusters started from the
//! system's own binaries.

pub mod pg;
