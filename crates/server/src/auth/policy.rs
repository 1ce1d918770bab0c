//! The one policy table: DESIGN.md §4 as a function of (route family, read/write,
//! principal). Every route declares its family; nothing else decides allow or deny.
//!
//! | family | operator | tenant admin | tenant member |
//! |---|---|---|---|
//! | control plane | rw | – | – |
//! | tenant admin area (own domains, enrollment tokens) | rw | rw (own) | r (own) |
//! | fleet data (hosts, session templates, sessions) | rw (as a tenant) | rw (own) | r (own) |
//! | components | rw | r (own) | r (own) |
//! | options | rw | – | – |
//! | agent (enroll, check-in) | – | – | – |
//!
//! Hosts may only check in (agent family, as themselves); enrollment tokens may only enroll.
//!
//! "Own" is enforced by resolution: a tenant principal only ever resolves to its tenant.

use super::Principal;
use crate::identity::Role;

/// What a route is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    ControlPlane,
    TenantAdminArea,
    FleetData,
    Components,
    Options,
    /// Agent enrollment and check-in.
    Agent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub fn of(method: &axum::http::Method) -> Access {
        if matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD) {
            Access::Read
        } else {
            Access::Write
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub &'static str);

/// Allows or denies one request.
pub fn decide(family: Family, access: Access, principal: &Principal) -> Result<(), Denied> {
    let role = match principal {
        Principal::Operator { .. } if family == Family::Agent => {
            return Err(Denied("this route is for agents"));
        }
        Principal::Operator { .. } => return Ok(()),
        Principal::Host { .. } | Principal::Enrollment { .. } if family == Family::Agent => {
            return Ok(());
        }
        Principal::Host { .. } | Principal::Enrollment { .. } => {
            return Err(Denied("agent credentials only reach the agent routes"));
        }
        Principal::Tenant { role, .. } => *role,
    };
    match (family, role, access) {
        (Family::ControlPlane | Family::Options, _, _) => {
            Err(Denied("this route is for operators"))
        }
        (Family::Agent, _, _) => Err(Denied("this route is for agents")),
        (Family::TenantAdminArea | Family::FleetData, Role::Admin, _) => Ok(()),
        (Family::Components, Role::Admin, Access::Write) => Err(Denied(
            "components are changed by operators; tenant admins may read them",
        )),
        (_, _, Access::Read) => Ok(()),
        (_, Role::Member, Access::Write) => Err(Denied("tenant members may only read")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(role: Role) -> Principal {
        Principal::Tenant {
            tenant: "acme".into(),
            role,
            subject: "s".into(),
            kid: "k".into(),
        }
    }

    #[test]
    fn the_table() {
        use Access::{Read, Write};
        use Family::*;
        let op = Principal::Operator { key_id: "k".into() };
        let (admin, member) = (tenant(Role::Admin), tenant(Role::Member));
        let rows = [
            (ControlPlane, [true, true], [false, false], [false, false]),
            (TenantAdminArea, [true, true], [true, true], [true, false]),
            (FleetData, [true, true], [true, true], [true, false]),
            (Components, [true, true], [true, false], [true, false]),
            (Options, [true, true], [false, false], [false, false]),
            (Agent, [false, false], [false, false], [false, false]),
        ];
        for (family, o, a, m) in rows {
            for (principal, expect) in [(&op, o), (&admin, a), (&member, m)] {
                assert_eq!(
                    decide(family, Read, principal).is_ok(),
                    expect[0],
                    "{family:?} read {principal:?}"
                );
                assert_eq!(
                    decide(family, Write, principal).is_ok(),
                    expect[1],
                    "{family:?} write {principal:?}"
                );
            }
        }
    }
}
