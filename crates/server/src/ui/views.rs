//! Pages: askama templates (escaping every value) and the rows they show, made from the
//! API's own types.

use std::collections::BTreeMap;

use askama::Template;
use chrono::{DateTime, Utc};
use tenantry_proto::{
    AuditEvent, ChainStatus, EnrollmentToken, Host, Instance, Session, SessionTemplate, Tenant,
    TrustedKey,
};

use super::session::Flash;

/// What every page's frame shows: the title, the navigation for who is signed in, the
/// sign-out form's CSRF token and the messages for this page.
pub struct Chrome {
    pub title: String,
    /// The signed-in user as shown in the header; `None` on the sign-in page.
    pub who: Option<String>,
    pub operator: bool,
    pub section: &'static str,
    pub csrf: String,
    pub messages: Vec<Message>,
}

pub struct Message {
    pub text: String,
    pub error: bool,
    /// A secret shown once, with a copy button.
    pub secret: Option<String>,
}

impl From<Flash> for Message {
    fn from(flash: Flash) -> Message {
        match flash {
            Flash::Notice(text) => Message {
                text,
                error: false,
                secret: None,
            },
            Flash::Error(text) => Message {
                text,
                error: true,
                secret: None,
            },
            Flash::Secret { label, value } => Message {
                text: label,
                error: false,
                secret: Some(value),
            },
        }
    }
}

/// Rows of one section, or why they could not be read (the rest of the page still shows).
pub struct Rows<T> {
    pub rows: Vec<T>,
    pub error: Option<String>,
}

impl<T> Rows<T> {
    pub fn from<S>(result: Result<Vec<S>, super::api::CallError>, f: impl Fn(S) -> T) -> Rows<T> {
        match result {
            Ok(items) => Rows {
                rows: items.into_iter().map(f).collect(),
                error: None,
            },
            Err(e) => Rows {
                rows: Vec::new(),
                error: Some(e.message()),
            },
        }
    }
}

pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn labels(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Template)]
#[template(path = "ui/login.html")]
pub struct LoginPage {
    pub chrome: Chrome,
    pub login_csrf: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub heading: String,
    pub message: String,
}

pub struct TenantRow {
    pub slug: String,
    pub display_name: String,
    pub status: String,
    pub isolation: String,
    pub instance: String,
    pub hosts: String,
    pub chain: String,
    pub created: String,
    pub created_iso: String,
}

impl From<Tenant> for TenantRow {
    fn from(t: Tenant) -> TenantRow {
        TenantRow {
            hosts: t.hosts.map_or_else(|| "–".to_owned(), |n| n.to_string()),
            chain: t
                .tenant_chain_version
                .map_or_else(|| "–".to_owned(), |v| v.to_string()),
            created: when(&t.created_at),
            created_iso: t.created_at.to_rfc3339(),
            status: t.status.as_str().to_owned(),
            isolation: t.isolation.as_str().to_owned(),
            instance: t.placement.instance,
            slug: t.slug,
            display_name: t.display_name,
        }
    }
}

/// The create form's values, kept when the API refuses them.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub isolation: String,
    #[serde(default)]
    pub instance: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub labels: String,
}

#[derive(Template)]
#[template(path = "ui/tenants.html")]
pub struct TenantsPage {
    pub chrome: Chrome,
    pub q: String,
    pub tenants: Vec<TenantRow>,
    pub list_error: Option<String>,
    pub next_page: Option<String>,
    pub form: CreateForm,
    pub create_error: Option<String>,
    pub isolations: Vec<(&'static str, &'static str)>,
    pub instances: Vec<String>,
}

pub struct TenantFacts {
    pub slug: String,
    pub display_name: String,
    pub status: String,
    pub isolation: String,
    pub instance: String,
    pub physical_name: String,
    pub chain: String,
    pub chain_pending: bool,
    pub created: String,
    pub lifecycle_step: Option<String>,
    pub builtin: bool,
    /// Its plan, or `default`.
    pub plan: String,
    /// What is enforced, one `name value` per limit set; empty: unlimited.
    pub limits: Vec<(String, String)>,
}

/// The limits that are set, as the page lists them.
fn limit_rows(l: &tenantry_proto::TenantLimits) -> Vec<(String, String)> {
    let rows = [
        ("requests / s", l.requests_per_second.map(u64::from)),
        ("burst", l.burst.map(u64::from)),
        ("check-ins / s", l.checkins_per_second.map(u64::from)),
        ("check-in burst", l.checkin_burst.map(u64::from)),
        ("max hosts", l.max_hosts),
        ("connections", l.max_connections.map(u64::from)),
        ("statement ms", l.statement_timeout_ms.map(u64::from)),
        ("storage bytes", l.storage_bytes),
    ];
    rows.into_iter()
        .filter_map(|(name, value)| value.map(|v| (name.to_owned(), v.to_string())))
        .collect()
}

impl TenantFacts {
    pub fn new(t: Tenant, latest_chain: i64) -> TenantFacts {
        TenantFacts {
            chain: t
                .tenant_chain_version
                .map_or_else(|| "–".to_owned(), |v| v.to_string()),
            chain_pending: t.tenant_chain_version.is_some_and(|v| v < latest_chain),
            status: t.status.as_str().to_owned(),
            isolation: t.isolation.as_str().to_owned(),
            instance: t.placement.instance,
            physical_name: t.placement.physical_name,
            created: when(&t.created_at),
            lifecycle_step: t.lifecycle_step,
            builtin: t.builtin,
            plan: t.plan.unwrap_or_else(|| "default".to_owned()),
            limits: limit_rows(&t.effective_limits),
            slug: t.slug,
            display_name: t.display_name,
        }
    }
}

pub struct HostRow {
    pub hostname: String,
    pub status: String,
    pub os: String,
    pub labels: String,
    pub last_seen: String,
}

impl From<Host> for HostRow {
    fn from(h: Host) -> HostRow {
        HostRow {
            status: serde_plain(&h.status),
            os: h.os.unwrap_or_default(),
            labels: labels(&h.labels),
            last_seen: h
                .last_seen_at
                .as_ref()
                .map_or_else(|| "never".to_owned(), when),
            hostname: h.hostname,
        }
    }
}

pub struct SessionRow {
    pub id: String,
    pub template: String,
    pub operation: String,
    pub status: String,
    pub progress: String,
    pub created: String,
}

impl From<Session> for SessionRow {
    fn from(s: Session) -> SessionRow {
        SessionRow {
            id: s.id.to_string(),
            operation: s.operation.as_str().to_owned(),
            status: serde_plain(&s.status),
            progress: match s.progress.failed {
                0 => format!("{} of {} applied", s.progress.applied, s.progress.targets),
                n => format!(
                    "{} of {} applied, {n} failed",
                    s.progress.applied, s.progress.targets
                ),
            },
            created: when(&s.created_at),
            template: s.template_name,
        }
    }
}

pub struct TokenRow {
    pub id: String,
    pub short_id: String,
    pub labels: String,
    pub uses: String,
    pub expires: String,
    /// `usable`, `revoked`, `expired` or `used-up`.
    pub state: &'static str,
}

impl From<EnrollmentToken> for TokenRow {
    fn from(t: EnrollmentToken) -> TokenRow {
        let state = if t.revoked {
            "revoked"
        } else if t.expires_at <= Utc::now() {
            "expired"
        } else if t.max_uses.is_some_and(|max| t.uses >= max) {
            "used-up"
        } else {
            "usable"
        };
        let id = t.id.to_string();
        TokenRow {
            // The tail: a UUIDv7 starts with its timestamp, shared by tokens issued together.
            short_id: id.chars().skip(id.len().saturating_sub(8)).collect(),
            id,
            labels: labels(&t.labels),
            uses: match t.max_uses {
                Some(max) => format!("{} of {max}", t.uses),
                None => t.uses.to_string(),
            },
            expires: when(&t.expires_at),
            state,
        }
    }
}

pub struct KeyRow {
    pub kid: String,
    pub algorithm: String,
    pub comment: String,
    pub created: String,
}

impl From<TrustedKey> for KeyRow {
    fn from(k: TrustedKey) -> KeyRow {
        KeyRow {
            created: when(&k.created_at),
            kid: k.kid,
            algorithm: k.algorithm,
            comment: k.comment,
        }
    }
}

pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub request_id: String,
}

impl From<AuditEvent> for AuditRow {
    fn from(a: AuditEvent) -> AuditRow {
        AuditRow {
            at: when(&a.at),
            actor: a.actor,
            action: a.action,
            request_id: a.request_id.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "ui/tenant.html")]
pub struct TenantPage {
    pub chrome: Chrome,
    pub slug: String,
    pub t: TenantFacts,
    pub latest_chain: i64,
    pub hosts: Rows<HostRow>,
    pub sessions: Rows<SessionRow>,
    pub tokens: Rows<TokenRow>,
    pub domains: Rows<String>,
    pub keys: Rows<KeyRow>,
    pub audit: Rows<AuditRow>,
}

#[derive(Template)]
#[template(path = "ui/deleted.html")]
pub struct DeletedPage {
    pub chrome: Chrome,
    pub slug: String,
    pub storage_removed: bool,
    pub media_removed: bool,
    pub domains_removed: u64,
    pub verified: bool,
}

pub struct InstanceRow {
    pub name: String,
    pub region: String,
    pub labels: String,
    pub tenants: String,
}

impl From<Instance> for InstanceRow {
    fn from(i: Instance) -> InstanceRow {
        InstanceRow {
            labels: labels(&i.labels),
            tenants: match i.max_tenants {
                Some(max) => format!("{} of {max}", i.tenants),
                None => i.tenants.to_string(),
            },
            name: i.name,
            region: i.region,
        }
    }
}

#[derive(Template)]
#[template(path = "ui/instances.html")]
pub struct InstancesPage {
    pub chrome: Chrome,
    pub instances: Vec<InstanceRow>,
}

pub struct MigrationRow {
    pub target: String,
    pub chain: String,
    pub current: String,
    pub latest: i64,
    pub state: String,
    pub state_class: &'static str,
    pub pending: bool,
}

impl From<ChainStatus> for MigrationRow {
    fn from(c: ChainStatus) -> MigrationRow {
        let (state, state_class) = if let Some(e) = &c.error {
            (format!("error: {e}"), "error")
        } else if !c.pending.is_empty() {
            let names: Vec<String> = c
                .pending
                .iter()
                .map(|p| format!("{} {}", p.version, p.description))
                .collect();
            (format!("pending: {}", names.join(", ")), "pending")
        } else if c.recorded {
            ("current (registry record)".to_owned(), "current")
        } else {
            ("current".to_owned(), "current")
        };
        MigrationRow {
            pending: !c.pending.is_empty(),
            current: c.current.map_or_else(|| "?".to_owned(), |v| v.to_string()),
            target: c.target,
            chain: c.chain,
            latest: c.latest,
            state,
            state_class,
        }
    }
}

#[derive(Template)]
#[template(path = "ui/migrations.html")]
pub struct MigrationsPage {
    pub chrome: Chrome,
    pub rows: Vec<MigrationRow>,
    pub pending: usize,
}

pub struct TemplateRow {
    pub name: String,
    pub description: String,
    pub boot_sets: String,
    pub updated: String,
}

impl From<SessionTemplate> for TemplateRow {
    fn from(t: SessionTemplate) -> TemplateRow {
        TemplateRow {
            boot_sets: t
                .boot_sets
                .iter()
                .map(|b| b.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
            updated: when(&t.updated_at),
            name: t.name,
            description: t.description,
        }
    }
}

#[derive(Template)]
#[template(path = "ui/tenant_home.html")]
pub struct TenantHomePage {
    pub chrome: Chrome,
    pub slug: String,
    pub display_name: String,
    pub hosts: Rows<HostRow>,
    pub templates: Rows<TemplateRow>,
    pub sessions: Rows<SessionRow>,
    pub tokens: Rows<TokenRow>,
}

/// A unit enum's wire name (`online`, `complete`, …).
fn serde_plain<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
