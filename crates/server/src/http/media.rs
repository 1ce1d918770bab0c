//! `/api/v1/media`: the resolved tenant's files (boot images, kernels, …), kept in the media
//! store every replica shares. Uploads stream into the store and appear only once whole;
//! downloads are always served as attachments, never as a page of this origin.

use axum::Json;
use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tenantry_proto::{MediaObject, Page, Problem, TenantStatus, codes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery, MediaScope};
use super::pagination::{check_limit, invalid_cursor, page};
use super::state::AppState;
use crate::media::{MediaName, UploadError, UploadLimit};
use crate::routing::TenantRoute;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_media))
        .routes(routes!(get_media, put_media, delete_media))
}

fn media_name(name: &str) -> ApiResult<MediaName> {
    MediaName::parse(name).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_MEDIA_NAME,
            e.to_string(),
        )
    })
}

fn media_not_found(name: &MediaName) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::MEDIA_NOT_FOUND,
        format!("no file `{name}` in this tenant's media"),
    )
}

/// `GET /api/v1/media` parameters.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MediaQuery {
    /// 1 to 500; default 50.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The tenant's files, by name.
#[utoipa::path(get, path = "/api/v1/media", tag = "media", params(MediaQuery,
    ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 200, body = Page<MediaObject>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 503, body = Problem)))]
async fn list_media(
    scope: MediaScope,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<MediaQuery>,
) -> ApiResult<Json<Page<MediaObject>>> {
    let limit = check_limit(query.limit)?;
    let after = match &query.cursor {
        Some(cursor) => Some(MediaName::parse(cursor).map_err(|_| invalid_cursor())?),
        None => None,
    };
    let route = &scope.route;
    let items = state
        .core
        .media
        .list(route.slug(), route.id, after.as_ref(), limit as usize + 1)
        .await?;
    Ok(Json(page(items, limit, |o| o.name.clone())))
}

/// One file's content, as an attachment (`application/octet-stream`, never sniffed).
#[utoipa::path(get, path = "/api/v1/media/{name}", tag = "media",
    params(("name" = String, Path, description = "the file's name"),
        ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"),
        (status = 400, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem)))]
async fn get_media(
    scope: MediaScope,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    request: HeaderMap,
) -> ApiResult<Response> {
    let name = media_name(&name)?;
    let route = &scope.route;
    let media = &state.core.media;
    // A host fetching its boot image again gets 304 while it has the current one.
    if let Some(known) = request.get(header::IF_NONE_MATCH) {
        let Some(current) = media.head(route.slug(), route.id, &name).await? else {
            return Err(media_not_found(&name));
        };
        if matches_any(known, current.etag.as_deref()) {
            let mut headers = HeaderMap::new();
            if let Some(Ok(etag)) = current.etag.map(|e| HeaderValue::try_from(quoted(&e))) {
                headers.insert(header::ETAG, etag);
            }
            return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
        }
    }
    let Some(found) = media.get(route.slug(), route.id, &name).await? else {
        return Err(media_not_found(&name));
    };
    let meta = found.meta.clone();
    let mut headers = HeaderMap::new();
    let mut set = |name, value: String| {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, "application/octet-stream".into());
    set(header::CONTENT_LENGTH, meta.size.to_string());
    set(
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{name}\""),
    );
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff".into());
    set(header::CACHE_CONTROL, "private, no-cache".into());
    set(
        header::LAST_MODIFIED,
        meta.last_modified
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string(),
    );
    if let Some(etag) = meta.e_tag {
        set(header::ETAG, quoted(&etag));
    }
    Ok((headers, Body::from_stream(found.into_stream())).into_response())
}

/// Stores the request body as the file `name`, replacing an earlier one only once all of it
/// arrived. At most `media.max_object_bytes`, and no more than is left of the tenant's
/// storage quota.
#[utoipa::path(put, path = "/api/v1/media/{name}", tag = "media",
    params(("name" = String, Path, description = "the file's name"),
        ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    security(("bearer" = [])),
    responses((status = 201, body = MediaObject, description = "stored"),
        (status = 200, body = MediaObject, description = "replaced"),
        (status = 400, body = Problem), (status = 408, body = Problem), (status = 413, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem), (status = 507, body = Problem)))]
async fn put_media(
    scope: MediaScope,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<MediaObject>)> {
    let name = media_name(&name)?;
    let route = &scope.route;
    let media = &state.core.media;
    let most = media.max_object_bytes();
    let limit = match state
        .quotas
        .left(route.id, &route.location, route.limits.storage_bytes)
        .await?
    {
        Some(left) if left < most => UploadLimit::Quota {
            left,
            quota: route.limits.storage_bytes.unwrap_or(left),
        },
        _ => UploadLimit::Object(most),
    };
    let mut body = body.into_data_stream();
    let idle = state.core.config.media.upload_idle_timeout.as_duration();
    // A body announced too large is refused before anything is stored.
    if let Some(announced) = content_length(&headers)
        && announced > limit.bytes()
    {
        drain(&mut body, &headers, idle).await;
        return Err(upload_error(limit.refusal()));
    }
    let existed = media.head(route.slug(), route.id, &name).await?.is_some();
    let stored = media
        .upload(route.slug(), route.id, &name, &mut body, limit)
        .await;
    state.quotas.forget(route.id);
    let stored = match stored {
        Ok(stored) => stored,
        Err(e @ (UploadError::TooLarge(_) | UploadError::OverQuota { .. })) => {
            drain(&mut body, &headers, idle).await;
            return Err(upload_error(e));
        }
        Err(e) => return Err(upload_error(e)),
    };
    if deleted_meanwhile(&state, route).await {
        // Deleted meanwhile (through any replica): what it stored must not outlive it.
        let _ = media.delete(route.slug(), route.id, &name).await;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::TENANT_DELETING,
            format!(
                "tenant {} was deleted during the upload; nothing was kept",
                route.slug()
            ),
        ));
    }
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(stored)))
}

/// Removes the file `name`.
#[utoipa::path(delete, path = "/api/v1/media/{name}", tag = "media",
    params(("name" = String, Path, description = "the file's name"),
        ("X-Tenantry-Tenant" = Option<String>, Header, description = "operators: the tenant to act as")),
    security(("bearer" = [])),
    responses((status = 204, description = "removed"), (status = 400, body = Problem),
        (status = 404, body = Problem), (status = 503, body = Problem)))]
async fn delete_media(
    scope: MediaScope,
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let name = media_name(&name)?;
    let route = &scope.route;
    if !state
        .core
        .media
        .delete(route.slug(), route.id, &name)
        .await?
    {
        return Err(media_not_found(&name));
    }
    state.quotas.forget(route.id);
    Ok(StatusCode::NO_CONTENT)
}

/// Whether this incarnation of the tenant is being deleted or gone, by the registry itself:
/// the routing snapshot may not have heard of a delete on another replica yet. (Suspended
/// meanwhile, it keeps what it finished storing, like a write that committed just before.)
async fn deleted_meanwhile(state: &AppState, route: &TenantRoute) -> bool {
    match state.core.catalog.tenant(route.slug().as_str()).await {
        Ok(Some(record)) => record.id != route.id || record.status == TenantStatus::Deleting,
        Ok(None) => true,
        // The registry not answering is no proof of a delete; the object stays under
        // this incarnation, where a purge will find it.
        Err(e) => {
            tracing::warn!(tenant = %route.slug(), error = %e, "could not confirm the tenant after an upload");
            false
        }
    }
}

/// What of a refused body is read and thrown away before the answer.
const DRAIN: u64 = 16 << 20;

/// Reads and discards up to [`DRAIN`] more bytes of a refused upload, so a client that sends
/// its whole body before it reads the answer (most do) gets the answer instead of a reset
/// connection; past that the connection is closed. A client that asked to be told first
/// (`Expect: 100-continue`) was sent nothing to go on, and is not asked for its body now.
async fn drain(body: &mut BodyDataStream, headers: &HeaderMap, idle: Duration) {
    if headers.contains_key(header::EXPECT) {
        return;
    }
    let mut left = DRAIN;
    while left > 0 {
        match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(Ok(chunk))) => left = left.saturating_sub(chunk.len() as u64),
            _ => return,
        }
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Whether an `If-None-Match` list names `current` (`*` names any; weak tags compare by
/// their value, as RFC 9110 has it for this header).
fn matches_any(known: &HeaderValue, current: Option<&str>) -> bool {
    let Ok(known) = known.to_str() else {
        return false;
    };
    let bare = |tag: &str| {
        tag.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_owned()
    };
    known
        .split(',')
        .any(|tag| tag.trim() == "*" || current.is_some_and(|current| bare(tag) == bare(current)))
}

/// An entity tag as HTTP writes it: quoted (S3 quotes its own; a directory does not).
fn quoted(etag: &str) -> String {
    if etag.starts_with('"') {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

fn upload_error(e: UploadError) -> ApiError {
    let (status, code) = match &e {
        UploadError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, codes::PAYLOAD_TOO_LARGE),
        UploadError::OverQuota { .. } => (
            StatusCode::INSUFFICIENT_STORAGE,
            codes::STORAGE_QUOTA_EXCEEDED,
        ),
        UploadError::Body(_) => (StatusCode::BAD_REQUEST, codes::UPLOAD_INCOMPLETE),
        UploadError::Stalled(_) => (StatusCode::REQUEST_TIMEOUT, codes::UPLOAD_INCOMPLETE),
        UploadError::Write(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            return ApiError::insufficient_storage(&e);
        }
        UploadError::Write(_) => {
            tracing::error!(error = %e, "media store unavailable during an upload");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::MEDIA_UNAVAILABLE,
                "the media store is unavailable; nothing was stored, try again later",
            );
        }
        UploadError::Media(_) => {
            return match e {
                UploadError::Media(m) => m.into(),
                other => ApiError::internal(other),
            };
        }
    };
    ApiError::new(status, code, format!("{e}; nothing was stored"))
}
