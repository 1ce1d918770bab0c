//! Text the databases refuse is bad input: a NUL character (or bytes that are not UTF-8)
//! in any path parameter, query parameter or JSON string of any route of the OpenAPI
//! document gets a problem document, never a 5xx, and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::hangup::{Ctx, Rng, request_for, setup_a};
use crate::on_every_backend;
use crate::support::{Mode, TestServer, call};

on_every_backend!(nul_and_invalid_text_are_refused_on_every_route);

/// Every (method, path template, query parameter names) of the OpenAPI document.
async fn routes(server: &TestServer) -> Vec<(String, String, Vec<String>)> {
    let (status, doc) = call(server.anon(Method::GET, "/api/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let query = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            routes.push((method.to_owned(), path.clone(), query));
        }
    }
    routes
}

/// The path with every parameter filled from `ctx`, except `bad` (by name), which gets
/// `value`.
fn fill(route: &str, ctx: &Ctx, bad: Option<(&str, &str)>) -> String {
    let mut out = String::new();
    let mut rest = route;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let name = &rest[open + 1..close];
        let value = match (bad, name) {
            (Some((b, v)), n) if b == n => v.to_owned(),
            (_, "slug") => ctx.a.clone(),
            (_, "id") => ctx.host_a.clone(),
            (_, "name") => "base".to_owned(),
            (_, "kid") => ctx.kid_a.clone(),
            (_, "domain") => "d0.a.example".to_owned(),
            (_, other) => panic!("{route}: no value for path parameter {other}"),
        };
        out.push_str(&value);
        rest = &rest[(close + 1).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

fn path_params(route: &str) -> Vec<String> {
    route
        .split('{')
        .skip(1)
        .filter_map(|p| p.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}

/// Copies of `body` with one string (a value or a key) made bad by `spoil`, for each.
fn spoiled(body: &Value, spoil: &dyn Fn(&str) -> String) -> Vec<Value> {
    match body {
        Value::String(s) => vec![Value::String(spoil(s))],
        Value::Array(items) => (0..items.len())
            .flat_map(|i| {
                spoiled(&items[i], spoil).into_iter().map(move |v| {
                    let mut copy = items.clone();
                    copy[i] = v;
                    Value::Array(copy)
                })
            })
            .collect(),
        Value::Object(map) => {
            let mut out = Vec::new();
            for (key, value) in map {
                let mut renamed = map.clone();
                let v = renamed.remove(key).unwrap_or_default();
                renamed.insert(spoil(key), v);
                out.push(Value::Object(renamed));
                for v in spoiled(value, spoil) {
                    let mut copy = map.clone();
                    copy.insert(key.clone(), v);
                    out.push(Value::Object(copy));
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

async fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    bearer: &str,
    masquerade: Option<&str>,
    body: Option<String>,
) -> (StatusCode, Value) {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap_or(Method::GET);
    let mut req = server.anon(method, path).bearer_auth(bearer);
    if let Some(tenant) = masquerade {
        req = req.header("X-Tenantry-Tenant", tenant);
    }
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body);
    }
    call(req).await
}

async fn nul_and_invalid_text_are_refused_on_every_route(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("alpha").await;
    let keys = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let ctx = setup_a(&server, "alpha", keys.path()).await;
    let hosts_before = server.stored_hostnames("alpha").await;
    let operator = ctx.operator.clone();
    let principals = [
        (operator.as_str(), Some("alpha")),
        (ctx.admin_a.as_str(), None),
    ];
    let mut checked = 0;
    for (method, route, query) in routes(&server).await {
        for (bearer, masquerade) in principals {
            for param in path_params(&route) {
                let path = fill(&route, &ctx, Some((&param, "x%00")));
                let (status, body) = send(&server, &method, &path, bearer, masquerade, None).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
                assert_eq!(body["code"], "invalid_path", "{method} {path}: {body}");
                let path = fill(&route, &ctx, Some((&param, "x%FF%FE")));
                let (status, body) = send(&server, &method, &path, bearer, masquerade, None).await;
                assert!(status.is_client_error(), "{method} {path}: {status} {body}");
                checked += 2;
            }
            for name in &query {
                let path = format!("{}?{name}=a%00b", fill(&route, &ctx, None));
                let (status, body) = send(&server, &method, &path, bearer, masquerade, None).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
                assert_eq!(body["code"], "invalid_query", "{method} {path}: {body}");
                let path = format!("{}?{name}=a%FF", fill(&route, &ctx, None));
                let (status, body) = send(&server, &method, &path, bearer, masquerade, None).await;
                assert!(
                    !status.is_server_error(),
                    "{method} {path}: {status} {body}"
                );
                checked += 2;
            }
        }
        if method == "get" {
            continue;
        }
        // A file's bytes are not text: a NUL in them is content (its name is checked with
        // every path above).
        if route.starts_with("/api/v1/media/") {
            continue;
        }
        // The route's own valid body, with one string at a time spoiled, as its caller.
        let raw = request_for(&method, &route, &ctx, &mut Rng(7));
        let Ok(body) = serde_json::from_slice::<Value>(&raw.body) else {
            continue;
        };
        // A NUL is refused as such; a lone surrogate is not text at all.
        let nul = spoiled(&body, &|s| format!("{s}\u{0}"))
            .into_iter()
            .map(|b| (b.to_string(), true));
        let surrogate = spoiled(&body, &|s| format!("{s}\\ud800"))
            .into_iter()
            .map(|b| (b.to_string().replace("\\\\ud800", "\\ud800"), false));
        for (bad, is_nul) in nul.chain(surrogate) {
            let (status, problem) = send(
                &server,
                raw.method,
                &raw.path,
                &raw.bearer,
                raw.masquerade.as_deref(),
                Some(bad.clone()),
            )
            .await;
            let what = format!("{} {} {bad}: {status} {problem}", raw.method, raw.path);
            if is_nul {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
                assert_eq!(problem["code"], "invalid_body", "{what}");
            } else {
                assert!(status.is_client_error(), "{what}");
            }
            checked += 1;
        }
    }
    assert!(checked > 150, "only {checked} requests");
    assert_eq!(
        server.stored_hostnames("alpha").await,
        hosts_before,
        "refused requests changed nothing"
    );
    let (status, body) = call(server.anon(Method::GET, "/readyz")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
