//! `/api/v1/tenants`: the tenant control plane (operators only).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use futures_util::{StreamExt, stream};
use serde::Deserialize;
use tenantry_proto::{
    CreateTenant, Page, Placement, Problem, PurgeReport, ReconcileReport, Tenant, TenantLimits,
    TenantStatus, UpdateTenant, codes,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, ControlPlane};
use super::pagination::{check_limit, invalid_cursor, page};
use super::state::AppState;
use crate::catalog::TenantRecord;
use crate::fleet::hosts;
use crate::limits;
use crate::names::{DEFAULT_TENANT, Slug};
use crate::provisioner::{PlacementWish, TenantChanges};
use crate::routing::plan_limits;
use crate::scheduler::Constraint;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, update_tenant, delete_tenant))
        .routes(routes!(reconcile))
}

/// A tenant as the API shows it, with the limits enforced on it.
pub fn view(state: &AppState, r: TenantRecord) -> Tenant {
    let own: TenantLimits = serde_json::from_value(r.limits.0.clone()).unwrap_or_default();
    let plans = state.routing.snapshot();
    let effective_limits = limits::effective(plan_limits(plans.plans(), r.plan.as_deref()), &own);
    Tenant {
        plan: r.plan,
        effective_limits,
        builtin: r.slug == DEFAULT_TENANT,
        placement: Placement {
            instance: r.instance,
            isolation: r.isolation,
            physical_name: r.physical_name,
        },
        id: r.id,
        slug: r.slug,
        display_name: r.display_name,
        status: r.status,
        isolation: r.isolation,
        limits: r.limits.0,
        tenant_chain_version: r.tenant_chain_version,
        lifecycle_step: r.lifecycle_step,
        hosts: None,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// A plan named in a request must be one the server has: in the configuration, or made
/// through the API (read from the registry, which another replica may just have changed).
async fn known_plan(state: &AppState, plan: Option<&str>) -> ApiResult<()> {
    let Some(name) = plan else {
        return Ok(());
    };
    let mut known: Vec<String> = state.core.config.plans.keys().cloned().collect();
    known.extend(
        state
            .core
            .catalog
            .plans()
            .await?
            .into_iter()
            .map(|p| p.name),
    );
    match known.iter().any(|k| k == name) {
        false => {
            known.sort();
            Err(ApiError::invalid(format!(
                "no plan `{}`; plans: {}",
                name.chars().take(48).collect::<String>(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )))
        }
        true => Ok(()),
    }
}

/// A path slug that names an existing tenant; anything else is `tenant_not_found`.
pub async fn existing(state: &AppState, slug: &str) -> ApiResult<TenantRecord> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::TENANT_NOT_FOUND,
            format!("no tenant `{slug}`"),
        )
    };
    Slug::parse(slug).map_err(|_| not_found())?;
    state.core.catalog.tenant(slug).await?.ok_or_else(not_found)
}

/// The tenant, for a request that would write something of it: a tenant being deleted
/// takes nothing new (whatever it took would be purged a moment later).
pub async fn writable(state: &AppState, slug: &str) -> ApiResult<TenantRecord> {
    let tenant = existing(state, slug).await?;
    if tenant.status == TenantStatus::Deleting {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::TENANT_DELETING,
            format!("tenant {slug} is being deleted"),
        ));
    }
    Ok(tenant)
}

fn path_slug(slug: &str) -> ApiResult<Slug> {
    Slug::parse(slug).map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::TENANT_NOT_FOUND,
            format!("no tenant `{slug}`"),
        )
    })
}

fn check_display_name(name: &str) -> ApiResult<()> {
    let len = name.chars().count();
    if !(1..=200).contains(&len) || name.chars().any(char::is_control) || name.trim() != name {
        return Err(ApiError::invalid(
            "display_name must be 1 to 200 characters, without control characters or surrounding spaces",
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TenantListParams {
    /// Only tenants whose slug or display name contains this (case-insensitive).
    q: Option<String>,
    /// Also count each listed tenant's hosts (one query per tenant on the page).
    #[serde(default)]
    count_hosts: bool,
    /// 1 to 500; default 50.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Hosts counted at once while listing, so a page of tenants on many instances stays quick
/// without opening every pool at the same moment.
const HOST_COUNT_CONCURRENCY: usize = 8;

/// List tenants, ordered by slug.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", params(TenantListParams),
    security(("bearer" = [])),
    responses((status = 200, body = Page<Tenant>), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 409, body = Problem)))]
async fn list_tenants(
    ControlPlane(_): ControlPlane,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<TenantListParams>,
) -> ApiResult<Json<Page<Tenant>>> {
    let limit = check_limit(params.limit)?;
    if let Some(cursor) = &params.cursor
        && Slug::parse(cursor).is_err()
    {
        return Err(invalid_cursor());
    }
    let search = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if search.is_some_and(|q| q.chars().count() > 200 || q.chars().any(char::is_control)) {
        return Err(ApiError::bad_query(
            "q must be at most 200 characters, without control characters",
        ));
    }
    let rows = state
        .core
        .catalog
        .tenants_page(params.cursor.as_deref(), search, limit + 1)
        .await?;
    let mut rows: Vec<Tenant> = rows.into_iter().map(|r| view(&state, r)).collect();
    if params.count_hosts {
        count_hosts(&state, &mut rows).await;
    }
    Ok(Json(page(rows, limit, |t| t.slug.clone())))
}

/// Fills in `hosts` for every listed tenant whose database answers.
async fn count_hosts(state: &AppState, tenants: &mut [Tenant]) {
    let snapshot = state.routing.snapshot();
    let routes: Vec<_> = tenants
        .iter()
        .map(|t| snapshot.tenant(&t.slug).cloned())
        .collect();
    let counts: Vec<Option<u64>> = stream::iter(routes)
        .map(|route| async move {
            let route = route?;
            let db = state
                .pools
                .get(route.id, &route.location, &route.limits)
                .await
                .ok()?;
            let n = hosts::count(&db).await.ok()?;
            u64::try_from(n).ok()
        })
        .buffered(HOST_COUNT_CONCURRENCY)
        .collect()
        .await;
    for (tenant, n) in tenants.iter_mut().zip(counts) {
        tenant.hosts = n;
    }
}

/// Create a tenant: its storage is provisioned before this answers.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = CreateTenant,
    security(("bearer" = [])),
    responses((status = 201, body = Tenant), (status = 401, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_tenant(
    ControlPlane(op): ControlPlane,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateTenant>,
) -> ApiResult<impl IntoResponse> {
    let slug = Slug::parse(&body.slug)?;
    let display_name = body.display_name.unwrap_or_else(|| slug.to_string());
    check_display_name(&display_name)?;
    if body.instance.is_some() && body.placement.is_some() {
        return Err(ApiError::invalid(
            "give either `instance` or `placement`, not both",
        ));
    }
    let placement = body.placement.unwrap_or_default();
    let wish = PlacementWish {
        isolation: body.isolation,
        constraint: Constraint {
            instance: body.instance,
            region: placement.region,
            labels: placement.labels,
        },
    };
    known_plan(&state, body.plan.as_deref()).await?;
    let record = state
        .provisioner
        .create(&slug, &display_name, &wish, body.plan.as_deref(), &op.actor)
        .await?;
    let location = format!("/api/v1/tenants/{slug}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view(&state, record)),
    ))
}

/// One tenant.
#[utoipa::path(get, path = "/api/v1/tenants/{slug}", tag = "tenants", params(("slug" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Tenant), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_tenant(
    ControlPlane(_): ControlPlane,
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(view(&state, existing(&state, &slug).await?)))
}

/// Rename a tenant, or suspend / resume it.
#[utoipa::path(patch, path = "/api/v1/tenants/{slug}", tag = "tenants", params(("slug" = String, Path)),
    request_body = UpdateTenant, security(("bearer" = [])),
    responses((status = 200, body = Tenant), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn update_tenant(
    ControlPlane(op): ControlPlane,
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateTenant>,
) -> ApiResult<Json<Tenant>> {
    let slug = path_slug(&slug)?;
    if let Some(name) = &body.display_name {
        check_display_name(name)?;
    }
    if let Some(status) = body.status
        && !matches!(status, TenantStatus::Active | TenantStatus::Suspended)
    {
        return Err(ApiError::invalid(
            "status can be set to `active` or `suspended`; use DELETE to delete a tenant",
        ));
    }
    let limits = body
        .limits
        .as_ref()
        .map(|l| serde_json::to_value(l).unwrap_or_default());
    known_plan(&state, body.plan.as_deref()).await?;
    let changes = TenantChanges {
        display_name: body.display_name.as_deref(),
        status: body.status,
        limits: limits.as_ref(),
        plan: body.plan.as_deref(),
    };
    let record = state.provisioner.update(&slug, &changes, &op.actor).await?;
    Ok(Json(view(&state, record)))
}

/// Delete a tenant and purge all of its data; answers once the purge is verified.
#[utoipa::path(delete, path = "/api/v1/tenants/{slug}", tag = "tenants", params(("slug" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = PurgeReport), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_tenant(
    ControlPlane(op): ControlPlane,
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<PurgeReport>> {
    let slug = path_slug(&slug)?;
    Ok(Json(state.provisioner.delete(&slug, &op.actor).await?))
}

/// Finish or roll back every tenant creation or deletion that was interrupted (the server
/// also does this at every start).
#[utoipa::path(post, path = "/api/v1/reconcile", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = ReconcileReport), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn reconcile(
    ControlPlane(_): ControlPlane,
    State(state): State<AppState>,
) -> ApiResult<Json<ReconcileReport>> {
    let report = state.provisioner.reconcile().await?;
    for (slug, error) in &report.failed {
        tracing::error!(tenant = %slug, %error, "reconcile could not finish the tenant");
    }
    Ok(Json(ReconcileReport {
        provisioned: report.provisioned,
        purged: report.purged,
        failed: report.failed.into_iter().map(|(slug, _)| slug).collect(),
    }))
}
