//! The Instances and Migrations pages (operators).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use tenantry_proto::{ChainStatus, Instance};

use super::UiState;
use super::frame::{OperatorSession, chrome, failed, render};
use super::views::{InstanceRow, InstancesPage, MigrationRow, MigrationsPage};

pub async fn instances(
    State(ui): State<UiState>,
    headers: HeaderMap,
    OperatorSession(mut session): OperatorSession,
) -> Response {
    let result = ui
        .api(&session)
        .get::<Vec<Instance>>("/api/v1/instances")
        .await;
    let instances = match result {
        Ok(list) => list,
        Err(e) => return failed(&ui, &headers, session, &e).await,
    };
    render(&InstancesPage {
        chrome: chrome(&mut session, "Instances", "instances"),
        instances: instances.into_iter().map(InstanceRow::from).collect(),
    })
}

pub async fn migrations(
    State(ui): State<UiState>,
    headers: HeaderMap,
    OperatorSession(mut session): OperatorSession,
) -> Response {
    let result = ui
        .api(&session)
        .get::<Vec<ChainStatus>>("/api/v1/migrations")
        .await;
    let rows: Vec<MigrationRow> = match result {
        Ok(list) => list.into_iter().map(MigrationRow::from).collect(),
        Err(e) => return failed(&ui, &headers, session, &e).await,
    };
    render(&MigrationsPage {
        chrome: chrome(&mut session, "Migrations", "migrations"),
        pending: rows.iter().filter(|r| r.pending).count(),
        rows,
    })
}
