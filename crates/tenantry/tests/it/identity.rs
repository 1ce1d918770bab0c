//! Tenant tokens: keys made and trusted with the CLI, tokens that reach exactly one tenant,
//! and precise refusals.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_proto::{Host, IssuedToken, Page, TrustedKey};

use crate::on_every_backend;
use crate::support::{Mode, TestServer, answer, call, expect_problem, run, text};

on_every_backend!(tenant_tokens_reach_only_their_own_tenant);

/// `tenantry keys create-keypair`, then `keys add` against the server; returns the kid.
pub fn trusted_keypair(server: &TestServer, dir: &Path, name: &str, extra: &[&str]) -> String {
    let file = dir.join(name);
    let file_s = file.display().to_string();
    let out = run(
        &["keys", "create-keypair", &file_s, "--alg", "ed25519"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let kid = text(&out.stdout).trim().to_owned();
    assert_eq!(kid.len(), 64, "{kid}");
    let mode = std::fs::metadata(&file)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .unwrap_or(0);
    assert_eq!(mode, 0o600, "private key file mode");
    let mut args = vec!["keys", "add", file_s.as_str()];
    args.extend_from_slice(extra);
    let out = run(
        &args,
        &[
            ("TENANTRY_SERVER_URL", &server.url),
            ("TENANTRY_API_KEY", server.key()),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), kid);
    kid
}

pub fn token(dir: &Path, key: &str, tenant: &str, role: &str, extra: &[&str]) -> String {
    let file = dir.join(key).display().to_string();
    let mut args = vec![
        "keys",
        "create-token",
        "--key",
        file.as_str(),
        "--tenant",
        tenant,
        "--role",
        role,
    ];
    args.extend_from_slice(extra);
    let out = run(&args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

async fn tenant_tokens_reach_only_their_own_tenant(mode: Mode) {
    let server = TestServer::builder()
        .mode(mode)
        .env("TENANTRY_ROUTING__BASE_DOMAIN", "tenants.test")
        .start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    server.create_host("beta", "beta-secret").await;
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    trusted_keypair(&server, dir.path(), "ops.pem", &[]);
    let admin = token(dir.path(), "ops.pem", "acme", "admin", &[]);
    let member = token(dir.path(), "ops.pem", "acme", "member", &[]);
    let beta_admin = token(dir.path(), "ops.pem", "beta", "admin", &[]);
    let with = |t: &str, method: Method, path: &str| server.anon(method, path).bearer_auth(t);

    // The admin writes and reads its own tenant, with no header naming it.
    let host: Host = answer(
        with(&admin, Method::POST, "/api/v1/hosts").json(&json!({ "hostname": "a1" })),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(host.tenant, "acme");
    let list: Page<Host> = answer(with(&admin, Method::GET, "/api/v1/hosts"), StatusCode::OK).await;
    assert_eq!(list.items.len(), 1, "{list:?}");
    assert!(list.items.iter().all(|h| h.hostname != "beta-secret"));
    let list: Page<Host> = answer(
        with(&beta_admin, Method::GET, "/api/v1/hosts"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list.items[0].hostname, "beta-secret");

    // It cannot reach beta: not by masquerading, not by Host.
    expect_problem(
        with(&admin, Method::GET, "/api/v1/hosts").header("X-Tenantry-Tenant", "beta"),
        StatusCode::FORBIDDEN,
        "masquerade_forbidden",
    )
    .await;
    let (status, _) =
        call(with(&admin, Method::GET, "/api/v1/hosts").header("X-Tenantry-Tenant", "acme")).await;
    assert_eq!(status, StatusCode::OK, "naming its own tenant is fine");
    let p = expect_problem(
        with(&admin, Method::POST, "/api/v1/hosts")
            .header("Host", "beta.tenants.test")
            .json(&json!({ "hostname": "x" })),
        StatusCode::FORBIDDEN,
        "tenant_mismatch",
    )
    .await;
    // A tenant principal is told whose credential it holds, never whose endpoint it hit.
    let detail = p.detail.as_str();
    assert!(
        detail.contains("acme") && !detail.contains("beta"),
        "{detail}"
    );
    // Nor which tenant owns a mapped domain.
    server.add_domain("beta", "fleet.example.org").await;
    let p = expect_problem(
        with(&admin, Method::GET, "/api/v1/hosts").header("Host", "fleet.example.org"),
        StatusCode::FORBIDDEN,
        "tenant_mismatch",
    )
    .await;
    assert!(!p.to_string().contains("beta"), "{p}");
    let beta_id = list.items[0].id;
    expect_problem(
        with(&admin, Method::DELETE, &format!("/api/v1/hosts/{beta_id}")),
        StatusCode::NOT_FOUND,
        "host_not_found",
    )
    .await;

    // Members read; they do not write.
    let (status, _) = call(with(&member, Method::GET, "/api/v1/hosts")).await;
    assert_eq!(status, StatusCode::OK);
    expect_problem(
        with(&member, Method::POST, "/api/v1/hosts").json(&json!({ "hostname": "m1" })),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let a1 = host.id;
    expect_problem(
        with(&member, Method::DELETE, &format!("/api/v1/hosts/{a1}")),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Tenant principals stay off the control plane.
    for (method, path) in [
        (Method::GET, "/api/v1/tenants"),
        (Method::GET, "/api/v1/tenants/acme"),
        (Method::DELETE, "/api/v1/tenants/beta"),
        (Method::GET, "/api/v1/keys"),
        (Method::GET, "/api/v1/instances"),
        (Method::GET, "/api/v1/audit"),
    ] {
        expect_problem(
            with(&admin, method, path),
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    assert_eq!(server.stored_hostnames("acme").await, ["a1"]);
    assert_eq!(server.stored_hostnames("beta").await, ["beta-secret"]);
}

#[tokio::test]
async fn refusals_are_precise() {
    let server = TestServer::builder()
        .env("TENANTRY_AUTH__AUDIENCE", "tenantry")
        .start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    trusted_keypair(&server, dir.path(), "open.pem", &[]);
    let restricted_kid =
        trusted_keypair(&server, dir.path(), "beta-only.pem", &["--tenant", "beta"]);
    let untrusted = dir.path().join("untrusted.pem").display().to_string();
    assert!(
        run(
            &["keys", "create-keypair", &untrusted, "--alg", "ed25519"],
            &[]
        )
        .status
        .success()
    );
    let hosts = |t: &str| server.anon(Method::GET, "/api/v1/hosts").bearer_auth(t);

    let good = token(
        dir.path(),
        "open.pem",
        "acme",
        "admin",
        &["--audience", "tenantry"],
    );
    let (status, _) = call(hosts(&good)).await;
    assert_eq!(status, StatusCode::OK);
    let cases = [
        (
            token(
                dir.path(),
                "open.pem",
                "acme",
                "admin",
                &["--audience", "elsewhere"],
            ),
            StatusCode::UNAUTHORIZED,
            "token_wrong_audience",
        ),
        (
            token(dir.path(), "open.pem", "acme", "admin", &[]),
            StatusCode::UNAUTHORIZED,
            "token_wrong_audience",
        ),
        (
            token(
                dir.path(),
                "untrusted.pem",
                "acme",
                "admin",
                &["--audience", "tenantry"],
            ),
            StatusCode::UNAUTHORIZED,
            "token_unknown_key",
        ),
        (
            token(
                dir.path(),
                "beta-only.pem",
                "acme",
                "admin",
                &["--audience", "tenantry"],
            ),
            StatusCode::FORBIDDEN,
            "token_tenant_not_allowed",
        ),
        (
            tamper(&good),
            StatusCode::UNAUTHORIZED,
            "token_bad_signature",
        ),
        (
            with_header(&good, json!({ "alg": "none", "typ": "JWT" })),
            StatusCode::UNAUTHORIZED,
            "token_algorithm_refused",
        ),
        (
            with_header(&good, json!({ "alg": "HS256", "kid": restricted_kid })),
            StatusCode::UNAUTHORIZED,
            "token_algorithm_refused",
        ),
        (
            with_header(&good, json!({ "alg": "RS256", "kid": restricted_kid })),
            StatusCode::UNAUTHORIZED,
            "token_algorithm_refused",
        ),
        (
            with_header(&good, json!({ "alg": "EdDSA", "kid": "k".repeat(5000) })),
            StatusCode::UNAUTHORIZED,
            "token_malformed",
        ),
        (
            "not.a.jwt!".to_owned(),
            StatusCode::UNAUTHORIZED,
            "token_malformed",
        ),
        (
            format!("{}.e30.sig", "a".repeat(9000)),
            StatusCode::UNAUTHORIZED,
            "token_malformed",
        ),
    ];
    for (t, status, code) in cases {
        expect_problem(hosts(&t), status, code).await;
    }
    // A key removed from the trust store stops working at once.
    let kid = good_kid(&good);
    let (status, _) = call(server.op(Method::DELETE, &format!("/api/v1/keys/{kid}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    expect_problem(hosts(&good), StatusCode::UNAUTHORIZED, "token_unknown_key").await;
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn with_header(token: &str, header: serde_json::Value) -> String {
    let rest: Vec<&str> = token.splitn(2, '.').collect();
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        rest.get(1).copied().unwrap_or("")
    )
}

/// The same token with one byte of its claims changed.
fn tamper(token: &str) -> String {
    use base64::Engine as _;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap_or_default();
    let at = claims.iter().position(|b| *b == b'a').unwrap_or(0);
    claims[at] = b'b';
    format!("{}.{}.{}", parts[0], b64(&claims), parts[2])
}

fn good_kid(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap_or_default();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    header["kid"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_trust_store_refuses_what_is_not_a_public_key() {
    let server = TestServer::start();
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let private = dir.path().join("p.pem");
    assert!(
        run(
            &[
                "keys",
                "create-keypair",
                &private.display().to_string(),
                "--alg",
                "ed25519"
            ],
            &[]
        )
        .status
        .success()
    );
    let private_pem = std::fs::read_to_string(&private).unwrap_or_default();
    let keys = || async {
        let keys: Vec<TrustedKey> =
            answer(server.op(Method::GET, "/api/v1/keys"), StatusCode::OK).await;
        keys.into_iter().map(|k| k.kid).collect::<Vec<_>>()
    };
    let before = keys().await;

    let p = expect_problem(
        server
            .op(Method::POST, "/api/v1/keys")
            .json(&json!({ "public_key": private_pem })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "private_key_refused",
    )
    .await;
    assert!(
        !p.to_string().contains("PRIVATE KEY-----\nMC"),
        "the key was echoed"
    );
    expect_problem(
        server
            .op(Method::POST, "/api/v1/keys")
            .header("content-type", "application/x-pem-file")
            .body(private_pem.clone()),
        StatusCode::UNPROCESSABLE_ENTITY,
        "private_key_refused",
    )
    .await;
    for junk in [
        "hello",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        &"A".repeat(50_000),
    ] {
        expect_problem(
            server
                .op(Method::POST, "/api/v1/keys")
                .json(&json!({ "public_key": junk })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_key",
        )
        .await;
    }
    assert_eq!(keys().await, before, "something was stored");
    let logs = std::fs::read_to_string(
        server
            .data_dir
            .parent()
            .map(|p| p.join("stderr.log"))
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    let body_line = private_pem.lines().nth(1).unwrap_or("-");
    assert!(!logs.contains(body_line), "the private key reached the log");

    // The server's own key is in the store and cannot be removed; unknown kids are 404.
    let all: Vec<TrustedKey> = answer(server.op(Method::GET, "/api/v1/keys"), StatusCode::OK).await;
    let server_key = all
        .iter()
        .find(|k| k.comment == "tenantry server")
        .unwrap_or_else(|| panic!("the server's own key is not listed: {all:?}"));
    let kid = server_key.kid.as_str();
    assert_eq!(kid.len(), 64, "{all:?}");
    expect_problem(
        server.op(Method::DELETE, &format!("/api/v1/keys/{kid}")),
        StatusCode::CONFLICT,
        "key_exists",
    )
    .await;
    expect_problem(
        server.op(Method::DELETE, "/api/v1/keys/nope"),
        StatusCode::NOT_FOUND,
        "key_not_found",
    )
    .await;
    expect_problem(
        server
            .op(Method::POST, "/api/v1/keys")
            .json(&json!({ "public_key": server_key.public_key })),
        StatusCode::CONFLICT,
        "key_exists",
    )
    .await;
}

#[tokio::test]
async fn operators_mint_recovery_tokens() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    let issued: IssuedToken = answer(
        server
            .op(Method::POST, "/api/v1/tenants/acme/admin-token")
            .json(&json!({ "ttl": "10m" })),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(issued.role, "admin");
    let t = issued.token.as_str();
    let host: Host = answer(
        server
            .anon(Method::POST, "/api/v1/hosts")
            .bearer_auth(t)
            .json(&json!({ "hostname": "r1" })),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(host.tenant, "acme");
    let (_, audit) = call(server.op(Method::GET, "/api/v1/audit?tenant=acme")).await;
    assert!(audit.to_string().contains("tenant.admin_token"), "{audit}");
    expect_problem(
        server
            .op(Method::POST, "/api/v1/tenants/acme/admin-token")
            .json(&json!({ "ttl": "30d" })),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    expect_problem(
        server
            .op(Method::POST, "/api/v1/tenants/ghost/admin-token")
            .json(&json!({})),
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    // A tenant admin cannot mint tokens for itself or anyone.
    expect_problem(
        server
            .anon(Method::POST, "/api/v1/tenants/acme/admin-token")
            .bearer_auth(t)
            .json(&json!({})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

/// A key from `openssl genpkey` and a token from PyJWT — none of Tenantry's own code signs.
#[tokio::test]
async fn tokens_from_other_tools_are_accepted_and_tampering_is_not() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let private = dir.path().join("rsa.pem");
    let public = dir.path().join("rsa.pub.pem");
    let sh = |cmd: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "{cmd}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    sh(&format!(
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {} 2>/dev/null",
        private.display()
    ));
    sh(&format!(
        "openssl pkey -in {} -pubout -out {}",
        private.display(),
        public.display()
    ));
    // The kid is documented as the SHA-256 of the SubjectPublicKeyInfo DER; check it independently.
    let expected_kid = sh(&format!(
        "openssl pkey -pubin -in {} -outform DER | sha256sum",
        public.display()
    ))
    .split_whitespace()
    .next()
    .unwrap_or_default()
    .to_owned();
    let pem = std::fs::read_to_string(&public).unwrap_or_default();
    let added: TrustedKey = answer(
        server
            .op(Method::POST, "/api/v1/keys")
            .header("content-type", "application/x-pem-file")
            .body(pem),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(added.kid, expected_kid);
    assert_eq!(added.algorithm, "RS256");

    let script = format!(
        "import jwt, time\n\
         now = int(time.time())\n\
         key = open('{}').read()\n\
         print(jwt.encode({{'sub': 'pyjwt', 'tenant': 'acme', 'role': 'member', 'iat': now, 'nbf': now, 'exp': now + 300}},\n\
                          key, algorithm='RS256', headers={{'kid': '{expected_kid}'}}))\n",
        private.display()
    );
    let token = sh(&format!("python3 -c \"{}\"", script.replace('"', "\\\"")));
    let token = token.trim();
    let (status, body) = call(server.anon(Method::GET, "/api/v1/hosts").bearer_auth(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // One byte changed in the signature: refused.
    let mut bytes = token.as_bytes().to_vec();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap_or_default();
    expect_problem(
        server
            .anon(Method::GET, "/api/v1/hosts")
            .bearer_auth(&tampered),
        StatusCode::UNAUTHORIZED,
        "token_bad_signature",
    )
    .await;
}
