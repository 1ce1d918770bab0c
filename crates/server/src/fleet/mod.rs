//! The fleet workload: data that lives in each tenant's own database.

pub mod components;
pub mod hosts;
pub mod labels;
pub mod session_templates;
pub mod sessions;
