//! The slug rule and every physical name derived from a slug, in one place.
//!
//! Nothing else in Tenantry may build a database, schema, role, file, directory or cache
//! key name for a tenant: they all come from [`Slug`] and [`DataLayout`], so a name can
//! only ever be derived from a validated slug.

use std::fmt;
use std::path::{Path, PathBuf};

use uuid::Uuid;

/// The rule, as told to users whose slug is refused.
pub const SLUG_RULE: &str = "a tenant slug is 2 to 40 characters: lowercase letters a-z, digits \
and single hyphens, starting with a letter and ending with a letter or digit; reserved words \
(public, template, registry, shared, admin, api, www, system, tenantry, postgres) are not allowed";

pub const RESERVED_SLUGS: &[&str] = &[
    "public", "template", "registry", "shared", "admin", "api", "www", "system", "tenantry",
    "postgres",
];

/// The database on each PostgreSQL instance that new database-mode tenants are copied from.
pub const TEMPLATE_DATABASE: &str = "tenantry_template";

/// The database on each PostgreSQL instance that holds the schema-mode tenants.
pub const SCHEMAS_DATABASE: &str = "tenantry_pool";

/// The least-privileged login the server provisions with on each instance (LOGIN
/// CREATEDB CREATEROLE, plus `pg_signal_backend` to end a purged tenant's sessions).
pub const PROVISIONER_ROLE: &str = "tenantry_provisioner";

/// The NOLOGIN role that owns the objects of `tenantry_template`; copies hand them to the
/// tenant's group role with `REASSIGN OWNED`, which touches no other database.
pub const TEMPLATE_OWNER: &str = "tenantry_owner";

/// The NOLOGIN, NOINHERIT role on each instance that is a member of every schema tenant's
/// group role. The schema pool's logins join it: they may `SET ROLE` to one tenant per
/// checkout, yet hold no tenant's privileges before they do (decision 0008).
pub const SCHEMA_LOGIN_ROLE: &str = "tenantry_router";

/// The OpenBAO database role issuing an instance's schema-pool logins (members of
/// [`SCHEMA_LOGIN_ROLE`]). Instance names are validated by the configuration (a-z, 0-9, -).
pub fn schema_login_bao_role(instance: &str) -> String {
    format!("router-{instance}")
}

/// The slug of the built-in tenant that exists from the first start and cannot be deleted.
pub const DEFAULT_TENANT: &str = "default";

/// A validated tenant slug.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{shown} is not a valid tenant slug: {reason}; {SLUG_RULE}")]
pub struct SlugError {
    shown: String,
    pub reason: &'static str,
}

impl Slug {
    pub fn parse(input: &str) -> Result<Slug, SlugError> {
        let fail = |reason| {
            // Quote and escape the input, and keep it short: it goes back into error bodies.
            let shown: String = input.chars().take(48).collect();
            Err(SlugError {
                shown: format!("{shown:?}"),
                reason,
            })
        };
        let len = input.chars().count();
        if len < 2 {
            return fail("it is shorter than 2 characters");
        }
        if len > 40 {
            return fail("it is longer than 40 characters");
        }
        if !input.is_ascii() {
            return fail("it contains non-ASCII characters");
        }
        if input.bytes().any(|b| b.is_ascii_uppercase()) {
            return fail("it contains uppercase letters");
        }
        if !input
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return fail("it contains characters other than a-z, 0-9 and -");
        }
        let bytes = input.as_bytes();
        if !bytes[0].is_ascii_lowercase() {
            return fail("it does not start with a letter");
        }
        if bytes[bytes.len() - 1] == b'-' {
            return fail("it ends with a hyphen");
        }
        if input.contains("--") {
            return fail("it contains two hyphens in a row");
        }
        if RESERVED_SLUGS.contains(&input) {
            return fail("it is a reserved word");
        }
        Ok(Slug(input.to_owned()))
    }

    /// The built-in tenant's slug.
    pub fn default_tenant() -> Slug {
        Slug(DEFAULT_TENANT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_TENANT
    }

    /// `t_<slug with - as _>`: the database (database mode) or schema (schema mode) name.
    pub fn physical_name(&self) -> String {
        format!("t_{}", self.0.replace('-', "_"))
    }

    /// The NOLOGIN group role owning the tenant's objects on PostgreSQL.
    pub fn group_role(&self) -> String {
        format!("{}_rw", self.physical_name())
    }

    /// The OpenBAO database role issuing this tenant's credentials.
    pub fn bao_role(&self) -> String {
        format!("tenant-{}", self.0)
    }

    /// The name of the tenant's lifecycle lock in the registry (hashed into a PostgreSQL
    /// advisory lock key by the registry itself).
    pub fn lifecycle_lock(&self) -> String {
        format!("tenantry:lifecycle:{}", self.0)
    }

    /// A cache key of this tenant: `t:<slug>:<what>` (`what` is a constant of the code).
    pub fn cache_key(&self, what: &str) -> String {
        format!("{}{what}", self.cache_prefix())
    }

    /// Prefix of every cache key belonging to this tenant.
    pub fn cache_prefix(&self) -> String {
        format!("t:{}:", self.0)
    }

    /// Where one incarnation of this tenant keeps its media in the media store:
    /// `<slug>/<tenant id>`. An upload that lands after its tenant was purged (on another
    /// replica) stays out of reach of a later tenant of the same slug.
    pub fn media_area(&self, incarnation: Uuid) -> String {
        format!("{}/{incarnation}", self.0)
    }

    /// Prefix of the media of every incarnation of this slug: what a purge removes.
    pub fn media_prefix(&self) -> String {
        self.0.clone()
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slug({})", self.0)
    }
}

/// Files and directories of the embedded backend under `data_dir`.
#[derive(Debug, Clone)]
pub struct DataLayout {
    root: PathBuf,
}

impl DataLayout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataLayout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The registry database; the shared partition collapses onto it.
    pub fn registry_db(&self) -> PathBuf {
        self.root.join("registry.db")
    }

    /// The tenant-chain template that new tenant files are copied from.
    pub fn template_db(&self) -> PathBuf {
        self.root.join("template.db")
    }

    pub fn tenants_dir(&self) -> PathBuf {
        self.root.join("tenants")
    }

    pub fn tenant_db(&self, slug: &Slug) -> PathBuf {
        self.tenants_dir().join(format!("{}.db", slug.as_str()))
    }

    /// Where a new tenant file is written before it is renamed into place.
    pub fn tenant_db_staging(&self, slug: &Slug) -> PathBuf {
        self.tenants_dir()
            .join(format!(".{}.db.new", slug.as_str()))
    }

    /// The default media store: a directory of objects `<slug>/<tenant id>/<name>`.
    pub fn media_root(&self) -> PathBuf {
        self.root.join("media")
    }
}

/// Normalises a domain name (lowercase, no trailing dot) and checks it is a valid DNS name
/// with at least two labels.
pub fn normalize_domain(input: &str) -> Result<String, DomainError> {
    let domain = input.trim_end_matches('.').to_ascii_lowercase();
    validate_domain(&domain)?;
    Ok(domain)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid domain name: {0}; use lowercase DNS labels like acme.example.com")]
pub struct DomainError(&'static str);

pub fn validate_domain(domain: &str) -> Result<(), DomainError> {
    if domain.is_empty() || domain.len() > 253 {
        return Err(DomainError("it must be 1 to 253 characters"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(DomainError("it needs at least two labels"));
    }
    for label in labels {
        if label.is_empty() || label.len() > 63 {
            return Err(DomainError("each label must be 1 to 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(DomainError("labels may hold only a-z, 0-9 and -"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(DomainError("a label may not start or end with a hyphen"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_slugs() {
        for s in [
            "ab",
            "acme",
            "acme-corp",
            "a1",
            "x0-y1-z2",
            &format!("a{}", "b".repeat(39)),
        ] {
            assert!(Slug::parse(s).is_ok(), "{s} should be valid");
        }
    }

    #[test]
    fn refuses_every_bad_class() {
        let cases = [
            ("a", "shorter"),
            ("Acme", "uppercase"),
            ("ac--me", "two hyphens"),
            ("1acme", "start with a letter"),
            ("-acme", "start with a letter"),
            ("acme-", "ends with a hyphen"),
            (&"a".repeat(41), "longer than 40"),
            ("admin", "reserved"),
            ("postgres", "reserved"),
            ("ac'me", "characters other"),
            ("ac;me", "characters other"),
            ("ac me", "characters other"),
            ("acmé", "non-ASCII"),
            ("", "shorter"),
        ];
        for (input, why) in cases {
            let err = Slug::parse(input).err();
            let msg = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.contains(why), "{input:?}: {msg}");
            assert!(
                msg.contains("2 to 40 characters"),
                "rule missing for {input:?}"
            );
        }
    }

    #[test]
    fn derives_physical_names() {
        let slug = Slug::parse("acme-corp").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(slug.physical_name(), "t_acme_corp");
        assert_eq!(slug.group_role(), "t_acme_corp_rw");
        assert_eq!(slug.bao_role(), "tenant-acme-corp");
        assert_eq!(slug.cache_prefix(), "t:acme-corp:");
        let layout = DataLayout::new("/d");
        assert_eq!(
            layout.tenant_db(&slug),
            PathBuf::from("/d/tenants/acme-corp.db")
        );
        assert_eq!(layout.media_root(), PathBuf::from("/d/media"));
        let id = Uuid::nil();
        assert_eq!(
            slug.media_area(id),
            "acme-corp/00000000-0000-0000-0000-000000000000"
        );
        assert!(slug.media_area(id).starts_with(&slug.media_prefix()));
    }

    #[test]
    fn domains() {
        assert_eq!(
            normalize_domain("Acme.Example.COM."),
            Ok("acme.example.com".into())
        );
        assert!(normalize_domain("localhost").is_err());
        assert!(normalize_domain("a..b").is_err());
        assert!(normalize_domain("-a.b").is_err());
        assert!(normalize_domain("a b.c").is_err());
        assert!(normalize_domain("ex'ample.com").is_err());
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// The rule, written independently of `Slug::parse`, to compare against.
    fn by_the_rule(s: &str) -> bool {
        let b = s.as_bytes();
        (2..=40).contains(&b.len())
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[b.len() - 1] != b'-'
            && !s.contains("--")
            && !RESERVED_SLUGS.contains(&s)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

        #[test]
        fn parse_agrees_with_the_rule_on_anything(input in "\\PC{0,50}") {
            prop_assert_eq!(Slug::parse(&input).is_ok(), by_the_rule(&input));
        }

        #[test]
        fn parse_agrees_with_the_rule_near_the_alphabet(input in "[a-z0-9-]{0,45}") {
            let parsed = Slug::parse(&input);
            prop_assert_eq!(parsed.is_ok(), by_the_rule(&input));
            if let Ok(slug) = parsed {
                // Every physical name is a safe identifier made from it.
                let physical = slug.physical_name();
                prop_assert!(physical.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'));
                prop_assert!(physical.len() <= 42);
            }
        }
    }
}
