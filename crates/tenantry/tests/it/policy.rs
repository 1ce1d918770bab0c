//! The policy table as an invariant: every route of the OpenAPI document × every kind of
//! principal. Denied requests are the ones that would change tenant A; afterwards nothing
//! of A (or of anything else) has changed. Allowed requests use harmless variants (invalid
//! bodies, unknown ids) that only prove the caller got past authorisation.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::identity::{token, trusted_keypair};
use crate::support::{TestServer, call, run};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Operator,
    OperatorAsA,
    AdminA,
    MemberA,
    AdminB,
    Nobody,
    Forged,
}

const EVERYONE: [Who; 7] = [
    Who::Operator,
    Who::OperatorAsA,
    Who::AdminA,
    Who::MemberA,
    Who::AdminB,
    Who::Nobody,
    Who::Forged,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Past authorisation (any status but 401/403).
    Allowed,
    /// Refused with this status and code.
    Refused(u16, &'static str),
}

fn expected(path: &str, method: &Method, who: Who) -> Expect {
    use Expect::*;
    use Who::*;
    let read = *method == Method::GET;
    let anonymous = Refused(401, "unauthorized");
    let forged = Refused(401, "token_unknown_key");
    match (path, who) {
        ("/healthz" | "/readyz", _) => Allowed,
        // Agent routes take agent credentials only: none of these principals has one.
        ("/api/v1/agent/enroll" | "/api/v1/agent/checkin", Nobody) => anonymous,
        ("/api/v1/agent/enroll", _) => Refused(403, "invalid_enrollment_token"),
        ("/api/v1/agent/checkin", Forged) => forged,
        ("/api/v1/agent/checkin", _) => Refused(403, "forbidden"),
        ("/api/v2/sessiontemplates" | "/api/v2/sessions", Operator) if read => Allowed,
        (
            "/api/v2/sessiontemplates"
            | "/api/v2/sessiontemplates/{name}"
            | "/api/v2/sessions"
            | "/api/v2/sessions/{id}",
            Operator,
        ) => Refused(400, "tenant_required"),
        (
            "/api/v2/sessiontemplates"
            | "/api/v2/sessiontemplates/{name}"
            | "/api/v2/sessions"
            | "/api/v2/sessions/{id}",
            OperatorAsA | AdminA | AdminB,
        ) => Allowed,
        (
            "/api/v2/sessiontemplates"
            | "/api/v2/sessiontemplates/{name}"
            | "/api/v2/sessions"
            | "/api/v2/sessions/{id}",
            MemberA,
        ) if read => Allowed,
        (
            "/api/v2/sessiontemplates"
            | "/api/v2/sessiontemplates/{name}"
            | "/api/v2/sessions"
            | "/api/v2/sessions/{id}",
            MemberA,
        ) => Refused(403, "forbidden"),
        (_, Nobody) => anonymous,
        (_, Forged) => forged,
        ("/api/v2/options", Operator | OperatorAsA) => Allowed,
        ("/api/v2/options", _) => Refused(403, "operator_only"),
        ("/api/v2/components" | "/api/v2/components/{id}", Operator) => {
            Refused(400, "tenant_required")
        }
        ("/api/v2/components" | "/api/v2/components/{id}", OperatorAsA) => Allowed,
        ("/api/v2/components" | "/api/v2/components/{id}", _) if read => Allowed,
        ("/api/v2/components" | "/api/v2/components/{id}", _) => Refused(403, "forbidden"),
        ("/api/v1/hosts" | "/api/v1/hosts/{id}", Operator) if path == "/api/v1/hosts" && read => {
            Allowed
        }
        ("/api/v1/hosts" | "/api/v1/hosts/{id}", Operator) => Refused(400, "tenant_required"),
        ("/api/v1/hosts" | "/api/v1/hosts/{id}", OperatorAsA | AdminA | AdminB) => Allowed,
        ("/api/v1/hosts" | "/api/v1/hosts/{id}", MemberA) if read => Allowed,
        ("/api/v1/hosts" | "/api/v1/hosts/{id}", MemberA) => Refused(403, "forbidden"),
        ("/api/v1/media" | "/api/v1/media/{name}", Operator) => Refused(400, "tenant_required"),
        ("/api/v1/media" | "/api/v1/media/{name}", OperatorAsA | AdminA | AdminB) => Allowed,
        ("/api/v1/media" | "/api/v1/media/{name}", MemberA) if read => Allowed,
        ("/api/v1/media" | "/api/v1/media/{name}", MemberA) => Refused(403, "forbidden"),
        ("/api/v1/tenants/{slug}/domains", MemberA | AdminA) if read => Allowed,
        ("/api/v1/tenants/{slug}/domains", AdminB) if read => Refused(404, "tenant_not_found"),
        (
            "/api/v1/tenants/{slug}/enrollment-tokens"
            | "/api/v1/tenants/{slug}/enrollment-tokens/{id}",
            AdminA,
        ) => Allowed,
        (
            "/api/v1/tenants/{slug}/enrollment-tokens"
            | "/api/v1/tenants/{slug}/enrollment-tokens/{id}",
            MemberA,
        ) if read => Allowed,
        (
            "/api/v1/tenants/{slug}/enrollment-tokens"
            | "/api/v1/tenants/{slug}/enrollment-tokens/{id}",
            MemberA,
        ) => Refused(403, "forbidden"),
        (
            "/api/v1/tenants/{slug}/enrollment-tokens"
            | "/api/v1/tenants/{slug}/enrollment-tokens/{id}",
            AdminB,
        ) => Refused(404, "tenant_not_found"),
        (_, Operator | OperatorAsA) => Allowed,
        (_, AdminA | MemberA | AdminB) => Refused(403, "forbidden"),
    }
}

struct World {
    token_a: String,
    host_a: String,
    kid_a: String,
    spare_public_key: String,
}

/// The request for one route: harmful when it should be refused, harmless when allowed.
fn request(
    server: &TestServer,
    world: &World,
    path: &str,
    method: &Method,
    harmful: bool,
) -> Option<RequestBuilder> {
    let ghost = "00000000-0000-7000-8000-000000000000";
    let (url, body): (String, Option<Value>) = match (path, method.as_str(), harmful) {
        ("/healthz" | "/readyz", "GET", _) => (path.to_owned(), None),
        ("/api/v1/tenants", "GET", _) => (path.to_owned(), None),
        ("/api/v1/agent/enroll", "POST", _) => (
            path.to_owned(),
            Some(
                json!({ "machine_id": "policy-machine-0001", "facts": { "hostname": "intruder" } }),
            ),
        ),
        ("/api/v1/agent/checkin", "POST", _) => (path.to_owned(), Some(json!({}))),
        ("/api/v2/sessiontemplates", "GET", _) => (path.to_owned(), None),
        ("/api/v2/sessiontemplates", "POST", true) => (
            path.to_owned(),
            Some(json!({ "name": "intruder", "boot_sets": [
                { "name": "all", "node_list": ["a1"], "image": "evil.img" } ] })),
        ),
        ("/api/v2/sessiontemplates", "POST", false) => (
            path.to_owned(),
            Some(json!({ "name": "x", "boot_sets": [] })),
        ),
        ("/api/v2/sessiontemplates/{name}", "GET", _) => {
            ("/api/v2/sessiontemplates/nightly".into(), None)
        }
        ("/api/v2/sessiontemplates/{name}", "PUT", true) => (
            "/api/v2/sessiontemplates/nightly".into(),
            Some(
                json!({ "boot_sets": [ { "name": "all", "node_list": ["a1"], "image": "evil.img" } ] }),
            ),
        ),
        ("/api/v2/sessiontemplates/{name}", "PUT", false) => (
            "/api/v2/sessiontemplates/nightly".into(),
            Some(json!({ "boot_sets": [] })),
        ),
        ("/api/v2/sessiontemplates/{name}", "DELETE", true) => {
            ("/api/v2/sessiontemplates/nightly".into(), None)
        }
        ("/api/v2/sessiontemplates/{name}", "DELETE", false) => {
            ("/api/v2/sessiontemplates/ghost".into(), None)
        }
        ("/api/v2/sessions", "GET", _) => (path.to_owned(), None),
        ("/api/v2/sessions", "POST", true) => (
            path.to_owned(),
            Some(json!({ "template_name": "nightly", "operation": "shutdown" })),
        ),
        ("/api/v2/sessions", "POST", false) => (
            path.to_owned(),
            Some(json!({ "template_name": "ghost", "operation": "boot" })),
        ),
        ("/api/v2/sessions/{id}", "GET", _) => (format!("/api/v2/sessions/{ghost}"), None),
        ("/api/v2/sessions/{id}", "DELETE", _) => (format!("/api/v2/sessions/{ghost}"), None),
        ("/api/v2/components", "GET", _) => (path.to_owned(), None),
        ("/api/v2/components/{id}", "GET", _) => {
            (format!("/api/v2/components/{}", world.host_a), None)
        }
        ("/api/v2/components/{id}", "PATCH", true) => (
            format!("/api/v2/components/{}", world.host_a),
            Some(json!({ "desired_state": null })),
        ),
        ("/api/v2/components/{id}", "PATCH", false) => (
            format!("/api/v2/components/{ghost}"),
            Some(json!({ "desired_state": null })),
        ),
        ("/api/v2/options", "GET", _) => (path.to_owned(), None),
        ("/api/v2/options", "PATCH", true) => (
            path.to_owned(),
            Some(json!({ "default_session_timeout_secs": 60 })),
        ),
        ("/api/v2/options", "PATCH", false) => (
            path.to_owned(),
            Some(json!({ "default_session_timeout_secs": 1 })),
        ),
        // Nothing is interrupted, so reconciling changes nothing for anyone allowed.
        ("/api/v1/reconcile", "POST", _) => (path.to_owned(), None),
        ("/api/v1/tenants", "POST", true) => (path.to_owned(), Some(json!({ "slug": "intruder" }))),
        ("/api/v1/tenants", "POST", false) => (path.to_owned(), Some(json!({}))),
        ("/api/v1/tenants/{slug}", "GET", _) => ("/api/v1/tenants/acme".into(), None),
        ("/api/v1/tenants/{slug}", "PATCH", true) => (
            "/api/v1/tenants/acme".into(),
            Some(json!({ "status": "suspended" })),
        ),
        ("/api/v1/tenants/{slug}", "PATCH", false) => (
            "/api/v1/tenants/acme".into(),
            Some(json!({ "status": "deleting" })),
        ),
        ("/api/v1/tenants/{slug}", "DELETE", true) => ("/api/v1/tenants/acme".into(), None),
        ("/api/v1/tenants/{slug}", "DELETE", false) => ("/api/v1/tenants/ghost".into(), None),
        ("/api/v1/tenants/{slug}/domains", "GET", _) => {
            ("/api/v1/tenants/acme/domains".into(), None)
        }
        ("/api/v1/tenants/{slug}/domains", "POST", true) => (
            "/api/v1/tenants/acme/domains".into(),
            Some(json!({ "domain": "evil.example.com" })),
        ),
        ("/api/v1/tenants/{slug}/domains", "POST", false) => (
            "/api/v1/tenants/acme/domains".into(),
            Some(json!({ "domain": "not a domain" })),
        ),
        ("/api/v1/tenants/{slug}/domains/{domain}", "DELETE", true) => {
            ("/api/v1/tenants/acme/domains/acme.example.com".into(), None)
        }
        ("/api/v1/tenants/{slug}/domains/{domain}", "DELETE", false) => (
            "/api/v1/tenants/acme/domains/ghost.example.com".into(),
            None,
        ),
        ("/api/v1/tenants/{slug}/admin-token", "POST", true) => {
            ("/api/v1/tenants/acme/admin-token".into(), Some(json!({})))
        }
        ("/api/v1/tenants/{slug}/admin-token", "POST", false) => (
            "/api/v1/tenants/acme/admin-token".into(),
            Some(json!({ "ttl": "999d" })),
        ),
        ("/api/v1/tenants/{slug}/enrollment-tokens", "GET", _) => {
            ("/api/v1/tenants/acme/enrollment-tokens".into(), None)
        }
        ("/api/v1/tenants/{slug}/enrollment-tokens", "POST", true) => (
            "/api/v1/tenants/acme/enrollment-tokens".into(),
            Some(json!({ "ttl": "1h" })),
        ),
        ("/api/v1/tenants/{slug}/enrollment-tokens", "POST", false) => (
            "/api/v1/tenants/acme/enrollment-tokens".into(),
            Some(json!({ "ttl": "999d" })),
        ),
        ("/api/v1/tenants/{slug}/enrollment-tokens/{id}", "DELETE", true) => (
            format!("/api/v1/tenants/acme/enrollment-tokens/{}", world.token_a),
            None,
        ),
        ("/api/v1/tenants/{slug}/enrollment-tokens/{id}", "DELETE", false) => (
            format!("/api/v1/tenants/acme/enrollment-tokens/{ghost}"),
            None,
        ),
        (
            "/api/v1/instances" | "/api/v1/migrations" | "/api/v1/audit" | "/api/v1/keys",
            "GET",
            _,
        ) => (path.to_owned(), None),
        ("/api/v1/keys", "POST", true) => (
            path.to_owned(),
            Some(json!({ "public_key": world.spare_public_key })),
        ),
        ("/api/v1/keys", "POST", false) => (path.to_owned(), Some(json!({ "public_key": "junk" }))),
        ("/api/v1/keys/{kid}", "DELETE", true) => (format!("/api/v1/keys/{}", world.kid_a), None),
        ("/api/v1/keys/{kid}", "DELETE", false) => ("/api/v1/keys/ghost".into(), None),
        ("/api/v1/hosts", "GET", _) => (path.to_owned(), None),
        ("/api/v1/hosts", "POST", true) => {
            (path.to_owned(), Some(json!({ "hostname": "intruder" })))
        }
        ("/api/v1/hosts", "POST", false) => (path.to_owned(), Some(json!({ "hostname": "" }))),
        ("/api/v1/hosts/{id}", "GET", _) => (format!("/api/v1/hosts/{}", world.host_a), None),
        ("/api/v1/hosts/{id}", "DELETE", true) => (format!("/api/v1/hosts/{}", world.host_a), None),
        ("/api/v1/hosts/{id}", "DELETE", false) => (format!("/api/v1/hosts/{ghost}"), None),
        ("/api/v1/hosts/{id}", "PATCH", true) => (
            format!("/api/v1/hosts/{}", world.host_a),
            Some(json!({ "labels": { "owned": "yes" } })),
        ),
        ("/api/v1/hosts/{id}", "PATCH", false) => (
            format!("/api/v1/hosts/{}", world.host_a),
            Some(json!({ "labels": { "bad key": "x" } })),
        ),
        ("/api/v1/plans", "GET", _) => (path.to_owned(), None),
        ("/api/v1/plans/{name}", "GET", _) => ("/api/v1/plans/ghost".into(), None),
        ("/api/v1/plans/{name}", "PUT", true) => (
            "/api/v1/plans/free".into(),
            Some(json!({ "limits": { "requests_per_second": 1 } })),
        ),
        ("/api/v1/plans/{name}", "PUT", false) => (
            "/api/v1/plans/free".into(),
            Some(json!({ "limits": { "bogus": 1 } })),
        ),
        ("/api/v1/plans/{name}", "DELETE", _) => ("/api/v1/plans/ghost".into(), None),
        ("/api/v1/media", "GET", _) => (path.to_owned(), None),
        ("/api/v1/media/{name}", "GET", _) => ("/api/v1/media/boot.img".into(), None),
        ("/api/v1/media/{name}", "PUT" | "DELETE", true) => {
            ("/api/v1/media/boot.img".into(), Some(json!("owned")))
        }
        ("/api/v1/media/{name}", "PUT", false) => ("/api/v1/media/.bad".into(), None),
        ("/api/v1/media/{name}", "DELETE", false) => ("/api/v1/media/ghost".into(), None),
        _ => return None,
    };
    let req = server.anon(method.clone(), &url);
    Some(match body {
        Some(b) => req.json(&b),
        None => req,
    })
}

/// Everything observable about the deployment, to compare before and after.
async fn state(server: &TestServer) -> Value {
    let get = |p: &str| call(server.op(Method::GET, p));
    let get_as = |t: &str, p: &str| call(server.as_tenant(t, Method::GET, p));
    let mut keys = get("/api/v1/keys").await.1;
    for k in keys.as_array_mut().into_iter().flatten() {
        k.as_object_mut().map(|o| o.remove("created_at"));
    }
    json!({
        "tenants": get("/api/v1/tenants").await.1["items"].as_array().map(|a| a.iter().map(|t| json!([t["slug"], t["status"]])).collect::<Vec<_>>()),
        "domains": get("/api/v1/tenants/acme/domains").await.1["items"],
        "keys": keys,
        "hosts": server.hostnames("acme").await,
        "enrollment_tokens": get("/api/v1/tenants/acme/enrollment-tokens").await.1["items"],
        "hosts_b": server.hostnames("beta").await,
        "media": get_as("acme", "/api/v1/media").await.1["items"],
        "media_b": get_as("beta", "/api/v1/media").await.1["items"],
        "plans": get("/api/v1/plans").await.1,
    })
}

#[tokio::test]
async fn every_route_times_every_principal_follows_the_table() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    server.add_domain("acme", "acme.example.com").await;
    let host_a = server.create_host("acme", "a1").await.id.to_string();
    server.create_host("beta", "b1").await;
    let (stored, _) = call(
        server
            .as_tenant("acme", Method::PUT, "/api/v1/media/boot.img")
            .body("kernel"),
    )
    .await;
    assert_eq!(stored, StatusCode::CREATED);
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let kid_a = trusted_keypair(&server, dir.path(), "a.pem", &["--tenant", "acme"]);
    trusted_keypair(&server, dir.path(), "b.pem", &["--tenant", "beta"]);
    let untrusted = dir.path().join("forged.pem").display().to_string();
    assert!(
        run(
            &["keys", "create-keypair", &untrusted, "--alg", "ed25519"],
            &[]
        )
        .status
        .success()
    );
    let spare = dir.path().join("spare.pem").display().to_string();
    assert!(
        run(&["keys", "create-keypair", &spare, "--alg", "ed25519"], &[])
            .status
            .success()
    );
    let spare_public_key = {
        let out = std::process::Command::new("openssl")
            .args(["pkey", "-in", &spare, "-pubout"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (_, issued) = call(
        server
            .op(Method::POST, "/api/v1/tenants/acme/enrollment-tokens")
            .json(&json!({})),
    )
    .await;
    let token_a = issued["id"].as_str().unwrap_or_default().to_owned();
    let world = World {
        token_a,
        host_a,
        kid_a,
        spare_public_key,
    };
    let admin_a = token(dir.path(), "a.pem", "acme", "admin", &[]);
    let member_a = token(dir.path(), "a.pem", "acme", "member", &[]);
    let admin_b = token(dir.path(), "b.pem", "beta", "admin", &[]);
    let forged = token(dir.path(), "forged.pem", "acme", "admin", &[]);

    let (_, doc) = call(server.anon(Method::GET, "/api/openapi.json")).await;
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let before = state(&server).await;
    let mut checked = 0;
    let mut failures = Vec::new();
    for (path, item) in &paths {
        for method in ["get", "post", "patch", "put", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let method: Method = method.to_uppercase().parse().unwrap_or(Method::GET);
            for who in EVERYONE {
                let expect = expected(path, &method, who);
                let harmful = matches!(expect, Expect::Refused(401 | 403 | 404, _));
                let Some(req) = request(&server, &world, path, &method, harmful) else {
                    failures.push(format!(
                        "{method} {path}: no request in this test's table; add one"
                    ));
                    continue;
                };
                let req = match who {
                    Who::Operator => req.bearer_auth(server.key()),
                    Who::OperatorAsA => req
                        .bearer_auth(server.key())
                        .header("X-Tenantry-Tenant", "acme"),
                    Who::AdminA => req.bearer_auth(&admin_a),
                    Who::MemberA => req.bearer_auth(&member_a),
                    Who::AdminB => req.bearer_auth(&admin_b),
                    Who::Nobody => req,
                    Who::Forged => req.bearer_auth(&forged),
                };
                let (status, body) = call(req).await;
                checked += 1;
                let ok = match expect {
                    Expect::Allowed => {
                        status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN
                    }
                    Expect::Refused(code, name) => status.as_u16() == code && body["code"] == name,
                };
                if !ok {
                    failures.push(format!(
                        "{method} {path} as {who:?}: expected {expect:?}, got {status} {body}"
                    ));
                }
                if who == Who::AdminB
                    && !body.to_string().is_empty()
                    && body.to_string().contains("\"a1\"")
                {
                    failures.push(format!(
                        "{method} {path} as AdminB saw tenant A's host: {body}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 7 * 18, "only {checked} checks ran");
    assert_eq!(
        state(&server).await,
        before,
        "a refused or harmless request changed something"
    );
}
