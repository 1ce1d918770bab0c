use axum::http::StatusCode;
use serde::Deserialize;
use tenantry_proto::{Page, codes};

use super::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// `?limit=&cursor=` of every listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 500; default 50.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<u32, ApiError> {
        check_limit(self.limit)
    }
}

/// A listing's `?limit=`: 1 to 500, default 50.
pub fn check_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_query(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

pub fn invalid_cursor() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        codes::INVALID_CURSOR,
        "the cursor is not one this listing handed out",
    )
}

/// Builds a page from `limit + 1` fetched rows: the extra row only says there is more.
pub fn page<T>(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> Page<T> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(cursor_of)
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

/// One page of items gathered across every active tenant, by tenant slug and then by
/// `key` (what `fetch` pages by). The cursor is `<slug>/<key>`; each item names its tenant.
pub async fn across_tenants<T, Fut>(
    state: &super::state::AppState,
    cursor: Option<&str>,
    limit: u32,
    fetch: impl Fn(crate::store::TenantDb, String, Option<String>, u32) -> Fut,
    key: impl Fn(&T) -> String,
    tenant_of: impl Fn(&T) -> &str,
) -> Result<Page<T>, ApiError>
where
    Fut: std::future::Future<Output = Result<Vec<T>, crate::store::TenantDataError>>,
{
    let (from_slug, after) = match cursor {
        Some(c) => {
            let (slug, key) = c.split_once('/').ok_or_else(invalid_cursor)?;
            (Some(slug.to_owned()), Some(key.to_owned()))
        }
        None => (None, None),
    };
    let snapshot = state.routing.snapshot();
    let mut routes: Vec<_> = snapshot
        .tenants()
        .filter(|r| r.status == tenantry_proto::TenantStatus::Active)
        .filter(|r| from_slug.as_deref().is_none_or(|s| r.slug().as_str() >= s))
        .cloned()
        .collect();
    routes.sort_by(|a, b| a.slug().cmp(b.slug()));
    let mut rows = Vec::new();
    for route in routes {
        let want = limit as usize + 1 - rows.len();
        let db = state
            .pools
            .get(route.id, &route.location, &route.limits)
            .await?;
        let slug = route.slug().as_str().to_owned();
        let after_here = if from_slug.as_deref() == Some(slug.as_str()) {
            after.clone()
        } else {
            None
        };
        rows.extend(fetch(db, slug, after_here, want as u32).await?);
        if rows.len() > limit as usize {
            break;
        }
    }
    Ok(page(rows, limit, |item| {
        format!("{}/{}", tenant_of(item), key(item))
    }))
}
