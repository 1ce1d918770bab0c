//! Settings → Tenants (operators): the list with search, create, a tenant's page, and
//! its actions (suspend/resume, domains, admin token, delete).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tenantry_proto::{
    AdminTokenRequest, AuditEvent, CreateDomain, CreateTenant, Domain, EnrollmentToken, Host,
    Instance, Isolation, IssuedToken, Page, PlacementRequest, PurgeReport, Session, Tenant,
    TrustedKey,
};

use super::UiState;
use super::frame::{
    self, OperatorSession, UiForm, answer, chrome, done, failed, optional, parse_labels, refused,
    render, render_with, segment,
};
use super::session::Flash;
use super::views::{
    CreateForm, DeletedPage, Rows, TenantFacts, TenantPage, TenantRow, TenantsPage,
};
use crate::migrator::Chain;
use crate::names::Slug;

const PAGE_SIZE: u32 = 50;
/// Rows of each section on a tenant's page.
const SECTION_ROWS: u32 = 100;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    cursor: Option<String>,
}

pub async fn list(
    State(ui): State<UiState>,
    headers: HeaderMap,
    OperatorSession(session): OperatorSession,
    Query(query): Query<ListQuery>,
) -> Response {
    tenants_page(&ui, &headers, session, query, CreateForm::default(), None).await
}

/// The tenants page; `create_error` re-shows the create form with what was typed.
async fn tenants_page(
    ui: &UiState,
    headers: &HeaderMap,
    mut session: crate::ui::session::Session,
    query: ListQuery,
    form: CreateForm,
    create_error: Option<(StatusCode, String)>,
) -> Response {
    let api = ui.api(&session);
    let mut params = vec![
        ("count_hosts", "true".to_owned()),
        ("limit", PAGE_SIZE.to_string()),
    ];
    let q = query.q.trim().to_owned();
    if !q.is_empty() {
        params.push(("q", q.clone()));
    }
    if let Some(c) = &query.cursor {
        params.push(("cursor", c.clone()));
    }
    let url = format!(
        "/api/v1/tenants?{}",
        serde_urlencoded::to_string(&params).unwrap_or_default()
    );
    let (tenants, instances) = tokio::join!(
        api.get::<Page<Tenant>>(&url),
        api.get::<Vec<Instance>>("/api/v1/instances")
    );
    let (rows, next, list_error) = match tenants {
        Ok(page) => (page.items, page.next_cursor, None),
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
            return failed(ui, headers, session, &e).await;
        }
        Err(e) => (Vec::new(), None, Some(e.message())),
    };
    let next_page = next.map(|cursor| {
        let mut p = vec![("cursor", cursor)];
        if !q.is_empty() {
            p.push(("q", q.clone()));
        }
        format!(
            "/ui/tenants?{}",
            serde_urlencoded::to_string(&p).unwrap_or_default()
        )
    });
    let embedded = ui.app.core.storage.instances().next().is_none();
    let isolations = if embedded {
        vec![("file", "Own SQLite file")]
    } else {
        vec![("database", "Own database"), ("schema", "Own schema")]
    };
    let (status, create_error) = match create_error {
        Some((status, e)) => (status, Some(e)),
        None => (StatusCode::OK, None),
    };
    let page = TenantsPage {
        chrome: chrome(&mut session, "Tenants", "tenants"),
        q,
        tenants: rows.into_iter().map(TenantRow::from).collect(),
        list_error,
        next_page,
        form,
        create_error,
        isolations,
        instances: instances
            .map(|list| list.into_iter().map(|i| i.name).collect())
            .unwrap_or_default(),
    };
    render_with(status, &page)
}

pub async fn create(State(ui): State<UiState>, form: UiForm<CreateForm>) -> Response {
    let UiForm {
        session,
        value: f,
        headers,
    } = form;
    if !matches!(session.who, super::session::Who::Operator { .. }) {
        return frame::forbidden(session);
    }
    let again = |session, status, message: String| {
        tenants_page(
            &ui,
            &headers,
            session,
            ListQuery::default(),
            f.clone(),
            Some((status, message)),
        )
    };
    let isolation = match optional(&f.isolation) {
        None => None,
        Some(s) => match s.parse::<Isolation>() {
            Ok(i) => Some(i),
            Err(e) => return again(session, StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).await,
        },
    };
    let labels = match parse_labels(&f.labels) {
        Ok(l) => l,
        Err(e) => return again(session, StatusCode::UNPROCESSABLE_ENTITY, e.to_owned()).await,
    };
    let region = optional(&f.region);
    let body = CreateTenant {
        slug: f.slug.trim().to_owned(),
        display_name: optional(&f.display_name),
        isolation,
        instance: optional(&f.instance),
        placement: (region.is_some() || !labels.is_empty())
            .then_some(PlacementRequest { region, labels }),
        plan: None,
    };
    match ui
        .api(&session)
        .post::<_, Tenant>("/api/v1/tenants", &body)
        .await
    {
        Ok(t) => {
            done(
                &ui,
                &headers,
                &format!("/ui/tenants/{}", t.slug),
                Flash::Notice(format!(
                    "Tenant {} is ready: its {} storage on {} is provisioned.",
                    t.slug,
                    t.isolation.as_str(),
                    t.placement.instance
                )),
            )
            .await
        }
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
            failed(&ui, &headers, session, &e).await
        }
        Err(e) => again(session, e.status(), e.message()).await,
    }
}

/// A path slug that can be a tenant; anything else is the 404 page.
fn slug_of(raw: &str) -> Option<String> {
    Slug::parse(raw).ok().map(|s| s.to_string())
}

pub async fn show(
    State(ui): State<UiState>,
    headers: HeaderMap,
    OperatorSession(mut session): OperatorSession,
    Path(raw): Path<String>,
) -> Response {
    let Some(slug) = slug_of(&raw) else {
        return frame::not_found(Some(session));
    };
    let api = ui.api(&session);
    let tenant = match api.get::<Tenant>(&format!("/api/v1/tenants/{slug}")).await {
        Ok(t) => t,
        Err(e) => return failed(&ui, &headers, session, &e).await,
    };
    let as_tenant = api.acting_as(&slug);
    let urls = [
        format!("/api/v1/hosts?limit={SECTION_ROWS}"),
        format!("/api/v2/sessions?limit={SECTION_ROWS}"),
        format!("/api/v1/tenants/{slug}/enrollment-tokens?limit={SECTION_ROWS}"),
        format!("/api/v1/tenants/{slug}/domains?limit={SECTION_ROWS}"),
        format!("/api/v1/audit?tenant={slug}&limit=25"),
    ];
    // A suspended tenant's data is refused by the API itself; its message shows in place.
    let (hosts, sessions, tokens, domains, keys, audit) = tokio::join!(
        async { as_tenant.get::<Page<Host>>(&urls[0]).await.map(|p| p.items) },
        async {
            as_tenant
                .get::<Page<Session>>(&urls[1])
                .await
                .map(|p| p.items)
        },
        api.get::<Page<EnrollmentToken>>(&urls[2]),
        api.get::<Page<Domain>>(&urls[3]),
        api.get::<Vec<TrustedKey>>("/api/v1/keys"),
        api.get::<Page<AuditEvent>>(&urls[4]),
    );
    let latest_chain = ui.app.core.chains.latest(Chain::Tenant);
    let own_key = |k: &TrustedKey| k.tenant.as_deref() == Some(slug.as_str());
    let page = TenantPage {
        chrome: chrome(&mut session, tenant.display_name.clone(), "tenants"),
        slug: slug.clone(),
        t: TenantFacts::new(tenant, latest_chain),
        latest_chain,
        hosts: Rows::from(hosts, Into::into),
        sessions: Rows::from(sessions, Into::into),
        tokens: Rows::from(tokens.map(|p| p.items), Into::into),
        domains: Rows::from(domains.map(|p| p.items), |d| d.domain),
        keys: Rows::from(
            keys.map(|k| k.into_iter().filter(own_key).collect()),
            Into::into,
        ),
        audit: Rows::from(audit.map(|p| p.items), Into::into),
    };
    render(&page)
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
}

pub async fn set_status(
    State(ui): State<UiState>,
    Path(raw): Path<String>,
    form: UiForm<StatusForm>,
) -> Response {
    let Some((slug, back)) = operator_target(&form, &raw) else {
        return deny(form);
    };
    let status = form.value.status.as_str();
    let verb = match status {
        "suspended" => "suspended",
        "active" => "resumed",
        _ => {
            return done(
                &ui,
                &form.headers,
                &back,
                Flash::Error("unknown status".into()),
            )
            .await;
        }
    };
    let result = ui
        .api(&form.session)
        .patch::<_, Tenant>(
            &format!("/api/v1/tenants/{slug}"),
            &json!({ "status": status }),
        )
        .await;
    answer(&ui, &form.headers, &back, result, |_| {
        Flash::Notice(format!("{slug} is {verb}."))
    })
    .await
}

#[derive(Deserialize)]
pub struct DomainForm {
    #[serde(default)]
    domain: String,
}

pub async fn add_domain(
    State(ui): State<UiState>,
    Path(raw): Path<String>,
    form: UiForm<DomainForm>,
) -> Response {
    let Some((slug, back)) = operator_target(&form, &raw) else {
        return deny(form);
    };
    let body = CreateDomain {
        domain: form.value.domain.trim().to_owned(),
    };
    let result = ui
        .api(&form.session)
        .post::<_, Domain>(&format!("/api/v1/tenants/{slug}/domains"), &body)
        .await;
    answer(&ui, &form.headers, &back, result, |d| {
        Flash::Notice(format!("{} now routes to {slug}.", d.domain))
    })
    .await
}

pub async fn remove_domain(
    State(ui): State<UiState>,
    Path(raw): Path<String>,
    form: UiForm<DomainForm>,
) -> Response {
    let Some((slug, back)) = operator_target(&form, &raw) else {
        return deny(form);
    };
    let domain = form.value.domain.trim();
    let result = ui
        .api(&form.session)
        .delete::<serde_json::Value>(&format!(
            "/api/v1/tenants/{slug}/domains/{}",
            segment(domain)
        ))
        .await;
    answer(&ui, &form.headers, &back, result, |_| {
        Flash::Notice(format!("{domain} no longer routes to {slug}."))
    })
    .await
}

#[derive(Deserialize)]
pub struct TtlForm {
    #[serde(default)]
    ttl: String,
}

pub async fn admin_token(
    State(ui): State<UiState>,
    Path(raw): Path<String>,
    form: UiForm<TtlForm>,
) -> Response {
    let Some((slug, back)) = operator_target(&form, &raw) else {
        return deny(form);
    };
    let body = AdminTokenRequest {
        ttl: optional(&form.value.ttl),
    };
    let result = ui
        .api(&form.session)
        .post::<_, IssuedToken>(&format!("/api/v1/tenants/{slug}/admin-token"), &body)
        .await;
    answer(&ui, &form.headers, &back, result, |t| Flash::Secret {
        label: format!(
            "Tenant-admin token for {slug}, valid until {}.",
            super::views::when(&t.expires_at)
        ),
        value: t.token,
    })
    .await
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub async fn delete(
    State(ui): State<UiState>,
    Path(raw): Path<String>,
    form: UiForm<DeleteForm>,
) -> Response {
    let Some((slug, back)) = operator_target(&form, &raw) else {
        return deny(form);
    };
    if form.value.confirm.trim() != slug {
        return done(
            &ui,
            &form.headers,
            &back,
            Flash::Error(format!(
                "Nothing was deleted: type the slug `{slug}` exactly to confirm."
            )),
        )
        .await;
    }
    let UiForm {
        mut session,
        headers,
        ..
    } = form;
    let result = ui
        .api(&session)
        .delete::<PurgeReport>(&format!("/api/v1/tenants/{slug}"))
        .await;
    match result {
        Ok(report) => render(&DeletedPage {
            chrome: chrome(&mut session, format!("{slug} deleted"), "tenants"),
            slug: report.slug,
            storage_removed: report.storage_removed,
            media_removed: report.media_removed,
            domains_removed: report.domains_removed,
            verified: report.verified,
        }),
        Err(e) => refused(&ui, &headers, &back, &e).await,
    }
}

/// The tenant an operator's form is about, and the page to return to.
fn operator_target<T>(form: &UiForm<T>, raw: &str) -> Option<(String, String)> {
    if !matches!(form.session.who, super::session::Who::Operator { .. }) {
        return None;
    }
    let slug = slug_of(raw)?;
    let back = format!("/ui/tenants/{slug}");
    Some((slug, back))
}

fn deny<T>(form: UiForm<T>) -> Response {
    match form.session.who {
        super::session::Who::Operator { .. } => frame::not_found(Some(form.session)),
        _ => frame::forbidden(form.session),
    }
}
