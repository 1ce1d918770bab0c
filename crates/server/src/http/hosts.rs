//! `/api/v1/hosts`: hosts of the resolved tenant, read from and written to its own database.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use tenantry_proto::{CreateHost, Host, HostStatus, Page, Problem, UpdateHost, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, FleetScope, TenantScope};
use super::pagination::{across_tenants, check_limit, invalid_cursor, page};
use super::state::AppState;
use crate::fleet::hosts::{self, HostError, HostFilter, HostSort};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_hosts, create_host))
        .routes(routes!(get_host, update_host, delete_host))
}

fn validate(new: &CreateHost) -> ApiResult<()> {
    hosts::validate_hostname(&new.hostname).map_err(ApiError::invalid)?;
    if let Some(os) = &new.os {
        hosts::validate_text("os", os).map_err(ApiError::invalid)?;
    }
    crate::fleet::labels::validate(&new.labels).map_err(ApiError::invalid)?;
    Ok(())
}

fn host_not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::HOST_NOT_FOUND,
        format!("no host {id} in this tenant"),
    )
}

/// `GET /api/v1/hosts` parameters.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HostQuery {
    /// 1 to 500; default 50.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (with the same filters and sort).
    pub cursor: Option<String>,
    /// Hostname prefix (case-insensitive).
    pub hostname: Option<String>,
    /// `key=value`: hosts carrying this label.
    pub label: Option<String>,
    /// `online` or `offline`.
    pub status: Option<HostStatus>,
    /// `created` (default), `-created`, `hostname` or `-hostname`.
    pub sort: Option<String>,
}

impl HostQuery {
    /// The filter, without the cursor.
    fn filter(&self) -> ApiResult<HostFilter> {
        if self.hostname.as_ref().is_some_and(|h| h.len() > 253) {
            return Err(ApiError::bad_query(
                "hostname is a prefix of at most 253 characters",
            ));
        }
        let label = match &self.label {
            None => None,
            Some(l) => {
                let (k, v) = l
                    .split_once('=')
                    .ok_or_else(|| ApiError::bad_query("label is `key=value`"))?;
                let one = std::collections::BTreeMap::from([(k.to_owned(), v.to_owned())]);
                crate::fleet::labels::validate(&one).map_err(ApiError::bad_query)?;
                Some((k.to_owned(), v.to_owned()))
            }
        };
        let sort = match self.sort.as_deref() {
            None | Some("created") => HostSort::Created,
            Some("-created") => HostSort::CreatedDesc,
            Some("hostname") => HostSort::Hostname,
            Some("-hostname") => HostSort::HostnameDesc,
            Some(_) => {
                return Err(ApiError::bad_query(
                    "sort is one of created, -created, hostname, -hostname",
                ));
            }
        };
        Ok(HostFilter {
            hostname_prefix: self.hostname.clone(),
            label,
            status: self.status,
            sort,
            after_id: None,
            after_hostname: None,
        })
    }
}

/// The tenant's hosts: filtered by hostname prefix, label and status, sorted, a page at a
/// time. An operator naming no tenant sees every tenant's hosts, by tenant slug then age;
/// each item names its tenant.
#[utoipa::path(get, path = "/api/v1/hosts", tag = "hosts", params(HostQuery,
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 200, body = Page<Host>), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_hosts(
    scope: FleetScope,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<HostQuery>,
) -> ApiResult<Json<Page<Host>>> {
    let limit = check_limit(query.limit)?;
    let mut filter = query.filter()?;
    let tenant = match scope {
        FleetScope::Tenant(tenant) => tenant,
        FleetScope::AllTenants => {
            if filter.sort != HostSort::Created {
                return Err(ApiError::bad_query(
                    "sort applies within one tenant; across tenants hosts come by tenant, then age",
                ));
            }
            return list_all_tenants(&state, &filter, query.cursor.as_deref(), limit)
                .await
                .map(Json);
        }
    };
    let by_hostname = matches!(filter.sort, HostSort::Hostname | HostSort::HostnameDesc);
    match &query.cursor {
        Some(c) if by_hostname => filter.after_hostname = Some(c.clone()),
        Some(c) => filter.after_id = Some(Uuid::parse_str(c).map_err(|_| invalid_cursor())?),
        None => {}
    }
    let rows = hosts::list(&tenant.db, tenant.slug(), &filter, limit + 1).await?;
    Ok(Json(page(rows, limit, |h| {
        if by_hostname {
            h.hostname.clone()
        } else {
            h.id.to_string()
        }
    })))
}

/// Every active tenant's hosts, by tenant slug then age; the cursor is `<slug>/<host id>`.
async fn list_all_tenants(
    state: &AppState,
    filter: &HostFilter,
    cursor: Option<&str>,
    limit: u32,
) -> ApiResult<Page<Host>> {
    if let Some(c) = cursor {
        let id = c.split_once('/').map(|(_, id)| id).unwrap_or_default();
        Uuid::parse_str(id).map_err(|_| invalid_cursor())?;
    }
    across_tenants(
        state,
        cursor,
        limit,
        |db, slug, after, want| {
            let here = HostFilter {
                after_id: after.and_then(|a| Uuid::parse_str(&a).ok()),
                ..filter.clone()
            };
            async move { hosts::list(&db, &slug, &here, want).await }
        },
        |h: &Host| h.id.to_string(),
        |h| &h.tenant,
    )
    .await
}

/// Replace a host's labels.
#[utoipa::path(patch, path = "/api/v1/hosts/{id}", tag = "hosts", params(("id" = Uuid, Path),
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    request_body = UpdateHost, security(("bearer" = [])),
    responses((status = 200, body = Host), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_host(
    tenant: TenantScope,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateHost>,
) -> ApiResult<Json<Host>> {
    let id = Uuid::parse_str(&id).map_err(|_| host_not_found(&id))?;
    crate::fleet::labels::validate(&body.labels).map_err(ApiError::invalid)?;
    hosts::set_labels(&tenant.db, tenant.slug(), id, &body.labels)
        .await?
        .map(Json)
        .ok_or_else(|| host_not_found(id))
}

/// Register a host in the tenant.
#[utoipa::path(post, path = "/api/v1/hosts", tag = "hosts", request_body = CreateHost,
    params(("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 201, body = Host), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_host(
    tenant: TenantScope,
    ApiJson(body): ApiJson<CreateHost>,
) -> ApiResult<impl IntoResponse> {
    validate(&body)?;
    let host = hosts::create(&tenant.db, tenant.slug(), &body)
        .await
        .map_err(|e| match e {
            HostError::Exists(name) => ApiError::new(
                StatusCode::CONFLICT,
                codes::HOST_EXISTS,
                format!("a host named {name} already exists"),
            ),
            HostError::Data(e) => e.into(),
        })?;
    let location = format!("/api/v1/hosts/{}", host.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(host),
    ))
}

/// One host of the tenant.
#[utoipa::path(get, path = "/api/v1/hosts/{id}", tag = "hosts", params(("id" = Uuid, Path),
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 200, body = Host), (status = 404, body = Problem)))]
async fn get_host(tenant: TenantScope, ApiPath(id): ApiPath<String>) -> ApiResult<Json<Host>> {
    let id = Uuid::parse_str(&id).map_err(|_| host_not_found(&id))?;
    hosts::get(&tenant.db, tenant.slug(), id)
        .await?
        .map(Json)
        .ok_or_else(|| host_not_found(id))
}

/// Remove a host from the tenant.
#[utoipa::path(delete, path = "/api/v1/hosts/{id}", tag = "hosts", params(("id" = Uuid, Path),
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_host(
    tenant: TenantScope,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = Uuid::parse_str(&id).map_err(|_| host_not_found(&id))?;
    let deleted = hosts::delete(&tenant.db, id).await?;
    // Its credential stops working with the binding (401 `host_unknown` at check-in).
    let unbound = state.core.catalog.unbind_host(tenant.route.id, id).await?;
    if deleted || unbound {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(host_not_found(id))
    }
}
