//! Identity: public keys in the trust store, the JWTs they verify, and the server's own
//! signing key. The algorithm of a token always comes from the trust store entry of its
//! `kid`, never from the token's header.

pub mod keys;
mod principal;
pub mod server_key;
pub mod token;
pub mod verified;

pub use keys::{KeyAlg, KeyError, PrivateKey, PublicKey};
pub use principal::Principal;
pub use token::{Claims, Role, TokenError, TrustedKey, VerifiedToken};
pub use verified::VerifiedTokens;
