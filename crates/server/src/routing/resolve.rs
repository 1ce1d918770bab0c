//! Resolution: a request to exactly one tenant, or a refusal that says why. Never a guess.

use std::sync::Arc;

use super::{RoutingSnapshot, TenantRoute};
use crate::config::{RoutingConfig, Unmatched};
use crate::identity::Principal;
use crate::names::{DEFAULT_TENANT, normalize_domain};

/// Where a request's tenant came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantSource {
    /// The tenant claim of the caller's token.
    Token,
    /// A mapped domain or `<slug>.<base_domain>` in the `Host` header.
    Host,
    /// The operator's `X-Tenantry-Tenant` header.
    Masquerade,
    /// `routing.unmatched: default`, or multi-tenancy off.
    Fallback,
}

impl TenantSource {
    fn describe(self) -> &'static str {
        match self {
            TenantSource::Token => "the token",
            TenantSource::Host => "the Host header",
            TenantSource::Masquerade => "the X-Tenantry-Tenant header",
            TenantSource::Fallback => "the default",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Resolution {
    pub route: Arc<TenantRoute>,
    pub source: TenantSource,
    /// The operator named the tenant with `X-Tenantry-Tenant`.
    pub masquerade: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "this route needs a tenant: send X-Tenantry-Tenant (operators), or use a mapped domain or <tenant>.<base domain> as the Host"
    )]
    TenantRequired,
    #[error("no tenant `{slug}` ({source_desc})")]
    NotFound {
        slug: String,
        source_desc: &'static str,
    },
    #[error("{first_source} names tenant {first}, {second_source} names tenant {second}")]
    Mismatch {
        first: String,
        first_source: &'static str,
        second: String,
        second_source: &'static str,
    },
    /// The same disagreement, told to a tenant principal: it names no other tenant (a
    /// domain's owner is not the caller's business).
    #[error("{source_desc} names another tenant than {own}, which the credential is for")]
    ForeignEndpoint {
        own: String,
        source_desc: &'static str,
    },
    #[error("only operators may send X-Tenantry-Tenant")]
    MasqueradeForbidden,
    #[error("tenant {0} is suspended")]
    Suspended(String),
    #[error("tenant {0} is being deleted")]
    Deleting(String),
    #[error("tenant {0} is still being provisioned")]
    NotReady(String),
}

impl ResolveError {
    /// The tenant was found but may not be served now (suspended, being deleted or
    /// provisioned, or masquerade refused): a policy answer, not a routing failure.
    pub fn is_refusal_of_a_known_tenant(&self) -> bool {
        matches!(
            self,
            ResolveError::Suspended(_)
                | ResolveError::Deleting(_)
                | ResolveError::NotReady(_)
                | ResolveError::MasqueradeForbidden
        )
    }
}

/// Resolves the request's tenant from the `Host` header and the masquerade header.
///
/// Every source that names a tenant must name the same one; disagreement is refused.
pub fn resolve(
    snapshot: &RoutingSnapshot,
    principal: &Principal,
    host: Option<&str>,
    masquerade: Option<&str>,
    routing: &RoutingConfig,
    multitenancy: bool,
) -> Result<Resolution, ResolveError> {
    // In DESIGN.md §2's order: the token's tenant, the Host, the masquerade header.
    let mut named: Vec<(String, TenantSource)> = Vec::with_capacity(3);
    if let Some(tenant) = principal.tenant() {
        named.push((tenant.to_owned(), TenantSource::Token));
    }
    if let Some(slug) = host.and_then(|h| tenant_from_host(snapshot, h, routing)) {
        named.push((slug, TenantSource::Host));
    }
    if let Some(slug) = masquerade.map(str::trim).filter(|s| !s.is_empty()) {
        // A tenant may name itself; naming any other tenant is masquerading.
        if !principal.is_operator() && principal.tenant() != Some(slug) {
            return Err(ResolveError::MasqueradeForbidden);
        }
        if principal.is_operator() {
            named.push((slug.to_owned(), TenantSource::Masquerade));
        }
    }

    if let [(first, first_src), rest @ ..] = named.as_slice()
        && let Some((second, second_src)) = rest.iter().find(|(s, _)| s != first)
    {
        if !principal.is_operator() {
            return Err(ResolveError::ForeignEndpoint {
                own: first.clone(),
                source_desc: second_src.describe(),
            });
        }
        return Err(ResolveError::Mismatch {
            first: first.clone(),
            first_source: first_src.describe(),
            second: second.clone(),
            second_source: second_src.describe(),
        });
    }

    let (slug, source) = match named.first() {
        Some((slug, source)) => (slug.clone(), *source),
        None if !multitenancy || routing.unmatched == Unmatched::Default => {
            (DEFAULT_TENANT.to_owned(), TenantSource::Fallback)
        }
        None => return Err(ResolveError::TenantRequired),
    };
    let route = snapshot
        .tenant(&slug)
        .cloned()
        .ok_or(ResolveError::NotFound {
            slug: slug.clone(),
            source_desc: source.describe(),
        })?;
    if let Some(refusal) = route.refusal() {
        return Err(refusal);
    }
    Ok(Resolution {
        route,
        source,
        masquerade: source == TenantSource::Masquerade,
    })
}

/// The slug named by a `Host` header, if it names one: an exact mapped domain, or a single
/// label under `routing.base_domain`. Hosts that are neither (an IP, the base domain
/// itself, an unrelated name) name no tenant.
fn tenant_from_host(
    snapshot: &RoutingSnapshot,
    host: &str,
    routing: &RoutingConfig,
) -> Option<String> {
    let name = strip_port(host);
    let name = normalize_domain(name).ok()?;
    if let Some(slug) = snapshot.domain(&name) {
        return Some(slug.to_owned());
    }
    let base = routing.base_domain.as_deref()?;
    let label = name.strip_suffix(base)?.strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then(|| label.to_owned())
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // An IPv6 literal names no tenant; keep it whole so it fails domain validation.
        return host;
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::Slug;
    use crate::store::TenantLocation;
    use tenantry_proto::{Isolation, TenantStatus};

    fn snapshot(tenants: &[(&str, TenantStatus)], domains: &[(&str, &str)]) -> RoutingSnapshot {
        let mut s = RoutingSnapshot::default();
        for (slug, status) in tenants {
            let parsed = Slug::parse(slug).unwrap_or_else(|_| Slug::default_tenant());
            s.tenants.insert(
                (*slug).to_owned(),
                Arc::new(TenantRoute {
                    id: uuid::Uuid::now_v7(),
                    created_at: 0,
                    status: *status,
                    location: TenantLocation {
                        slug: parsed,
                        isolation: Isolation::File,
                        instance: "embedded".into(),
                    },
                    limits: Default::default(),
                }),
            );
        }
        for (d, slug) in domains {
            s.domains.insert((*d).to_owned(), (*slug).to_owned());
        }
        s
    }

    fn op() -> Principal {
        Principal::Operator { key_id: "k".into() }
    }

    fn cfg(base: Option<&str>, unmatched: Unmatched) -> RoutingConfig {
        RoutingConfig {
            base_domain: base.map(str::to_owned),
            unmatched,
            ..RoutingConfig::default()
        }
    }

    const ACTIVE: TenantStatus = TenantStatus::Active;

    #[test]
    fn masquerade_header_resolves() {
        let s = snapshot(&[("acme", ACTIVE), ("default", ACTIVE)], &[]);
        let r = resolve(
            &s,
            &op(),
            Some("127.0.0.1:8080"),
            Some("acme"),
            &cfg(None, Unmatched::Reject),
            true,
        );
        let r = r.map(|r| (r.route.slug().to_string(), r.masquerade));
        assert_eq!(r, Ok(("acme".to_owned(), true)));
    }

    #[test]
    fn host_domain_and_subdomain_resolve() {
        let s = snapshot(
            &[("acme", ACTIVE), ("beta", ACTIVE)],
            &[("acme.example.com", "acme")],
        );
        let c = cfg(Some("tenants.test"), Unmatched::Reject);
        let slug = |host| {
            resolve(&s, &op(), Some(host), None, &c, true).map(|r| r.route.slug().to_string())
        };
        assert_eq!(slug("ACME.example.com:443"), Ok("acme".into()));
        assert_eq!(slug("beta.tenants.test"), Ok("beta".into()));
        assert_eq!(slug("tenants.test"), Err(ResolveError::TenantRequired));
        assert_eq!(slug("x.y.tenants.test"), Err(ResolveError::TenantRequired));
        assert!(matches!(
            slug("nope.tenants.test"),
            Err(ResolveError::NotFound { .. })
        ));
    }

    #[test]
    fn disagreement_names_both() {
        let s = snapshot(
            &[("acme", ACTIVE), ("beta", ACTIVE)],
            &[("acme.example.com", "acme")],
        );
        let err = resolve(
            &s,
            &op(),
            Some("acme.example.com"),
            Some("beta"),
            &cfg(None, Unmatched::Reject),
            true,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("acme") && err.contains("beta"), "{err}");
    }

    #[test]
    fn never_falls_back_unless_configured() {
        let s = snapshot(&[("default", ACTIVE)], &[]);
        let refused = resolve(
            &s,
            &op(),
            Some("localhost"),
            None,
            &cfg(None, Unmatched::Reject),
            true,
        );
        assert_eq!(refused.err(), Some(ResolveError::TenantRequired));
        let allowed = resolve(
            &s,
            &op(),
            Some("localhost"),
            None,
            &cfg(None, Unmatched::Default),
            true,
        );
        assert_eq!(allowed.map(|r| r.source).ok(), Some(TenantSource::Fallback));
    }

    #[test]
    fn status_is_enforced() {
        let s = snapshot(
            &[
                ("sus", TenantStatus::Suspended),
                ("del", TenantStatus::Deleting),
                ("new", TenantStatus::Provisioning),
            ],
            &[],
        );
        let c = cfg(None, Unmatched::Reject);
        let r = |slug| resolve(&s, &op(), None, Some(slug), &c, true).err();
        assert_eq!(r("sus"), Some(ResolveError::Suspended("sus".into())));
        assert_eq!(r("del"), Some(ResolveError::Deleting("del".into())));
        assert_eq!(r("new"), Some(ResolveError::NotReady("new".into())));
    }
}
