pub mod domains;
pub mod keys;
pub mod migrate;
pub mod remote;
pub mod serve;
pub mod tenants;
pub mod tokens;
pub mod verify;
