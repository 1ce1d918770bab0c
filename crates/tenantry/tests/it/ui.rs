//! The admin UI: the operator's and the tenant admin's whole journey in a real headless
//! Chromium, and the session, CSRF and isolation rules over plain HTTP.

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;

use tenantry_proto::{Domain, EnrollmentToken, Page, Tenant, TenantStatus};

use crate::agent::{agent_config, agent_once};
use crate::browser::Driver;
use crate::identity::{token, trusted_keypair};
use crate::support::{TestServer, answer, call, text};

/// The slug validation message of the API, for comparison with what the form shows.
async fn api_slug_error(server: &TestServer, slug: &str) -> String {
    let (status, body) = call(
        server
            .op(Method::POST, "/api/v1/tenants")
            .json(&json!({ "slug": slug })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    body["detail"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_operator_and_a_tenant_admin_in_chromium() {
    let server = TestServer::start();
    let keys = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let mut acme_kid = String::new();
    // A neighbour whose data must never show up in acme's admin view.
    server.create_tenant("bravo").await;
    server.create_host("bravo", "bravo-secret-host").await;

    let driver = Driver::start();
    let op = driver.browser().await;
    let ui = |path: &str| format!("{}{path}", server.url);

    // Signed out, every page leads to the sign-in form; a wrong key says so, nothing more.
    op.goto(&ui("/ui/tenants")).await;
    assert!(op.url().await.ends_with("/ui/login"), "{}", op.url().await);
    // Keyboard: the key field has focus; Tab reaches the button.
    assert_eq!(op.tab().await, "Sign in");
    op.screenshot("01-sign-in").await;
    op.fill("#credential", "tnt_not-a-real-key").await;
    op.submit("form[action='/ui/login'] button").await;
    let error = op.text("#login-error").await;
    assert!(error.contains("not accepted"), "{error}");
    op.screenshot("02-sign-in-refused").await;

    op.fill("#credential", server.key()).await;
    op.submit("form[action='/ui/login'] button").await;
    assert!(
        op.url().await.ends_with("/ui/tenants"),
        "{}",
        op.url().await
    );
    let rows = op.find_all("#tenants tbody tr[data-slug]").await.len();
    assert_eq!(rows, 2, "default and bravo");
    assert!(op.text("#tenants").await.contains("bravo"));
    assert_eq!(
        op.tab().await,
        "Skip to content",
        "keyboard: the first stop"
    );
    op.screenshot("03-tenants").await;

    // Search narrows the table.
    op.fill("#q", "brav").await;
    op.submit("form.search button").await;
    let found = op.find_all("#tenants tbody tr[data-slug]").await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].attribute("data-slug").await.as_deref(),
        Some("bravo")
    );

    // A bad slug: the API's own message, on the page, and nothing created.
    let expected = api_slug_error(&server, "Acme Corp").await;
    op.fill("#slug", "Acme Corp").await;
    op.submit("#create-form button").await;
    let shown = op.text("#create-error").await;
    assert_eq!(shown, expected);
    op.screenshot("04-create-refused").await;

    // Create: provisioned before the page returns.
    op.fill("#slug", "acme").await;
    op.fill("#display_name", "Acme Corporation").await;
    op.submit("#create-form button").await;
    assert!(
        op.url().await.ends_with("/ui/tenants/acme"),
        "{}",
        op.url().await
    );
    assert!(op.text(".message.notice").await.contains("acme is ready"));
    assert!(server.storage_exists("acme").await);
    // A key trusted for acme alone is listed on its page.
    assert!(op.text("#keys tbody").await.contains("No keys"));
    acme_kid.push_str(&trusted_keypair(
        &server,
        keys.path(),
        "sso.pem",
        &["--tenant", "acme"],
    ));
    op.goto(&ui("/ui/tenants/acme")).await;
    assert_eq!(op.text("#keys tbody code").await, acme_kid);
    op.screenshot("05-tenant").await;

    // An enrollment token, shown once with a copy button.
    op.fill("#token-labels", "rack=r1").await;
    op.submit("form[action='/ui/tenants/acme/enrollment-tokens'] button")
        .await;
    let enrollment = op.text(".message.secret code").await;
    assert!(enrollment.starts_with("tnte_"), "{enrollment}");
    assert!(
        op.try_find(".message.secret button[data-copy]")
            .await
            .is_some()
    );
    op.screenshot("06-enrollment-token").await;
    op.goto(&ui("/ui/tenants/acme")).await;
    assert!(
        op.try_find(".message.secret").await.is_none(),
        "shown only once"
    );
    assert!(op.text("#tokens").await.contains("rack=r1"));

    // The real agent enrolls with it; the host appears on the tenant's page.
    let agent_dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let config = agent_config(agent_dir.path(), &server.url, Some(&enrollment), None);
    let out = agent_once(&config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hostname = server
        .hostnames("acme")
        .await
        .pop()
        .unwrap_or_else(|| panic!("the agent enrolled no host"));
    op.goto(&ui("/ui/tenants/acme")).await;
    let hosts = op.text("#hosts tbody").await;
    assert!(
        hosts.contains(&hostname) && hosts.contains("online"),
        "{hosts}"
    );
    assert!(!hosts.contains("bravo-secret-host"));
    assert_eq!(op.text("#tokens tbody td.num").await, "1", "one use");
    op.screenshot("07-host-enrolled").await;

    // A tenant-admin token for acme's administrator.
    op.submit("form[action='/ui/tenants/acme/admin-token'] button")
        .await;
    let admin_token = op.text(".message.secret code").await;
    assert!(!admin_token.is_empty());

    // On a phone the page reflows: nothing but the tables' own scroll boxes is wider than
    // the screen.
    op.resize(390, 844).await;
    op.goto(&ui("/ui/tenants/acme")).await;
    op.screenshot("07b-tenant-on-a-phone").await;
    let wide: serde_json::Value = op.widest().await;
    assert!(
        !op.scrolls_sideways().await,
        "the tenant page overflows a phone screen: {wide}"
    );
    op.resize(1280, 1000).await;

    op.goto(&ui("/ui/instances")).await;
    assert!(op.text("#instances").await.contains("embedded"));
    op.screenshot("08-instances").await;
    op.goto(&ui("/ui/migrations")).await;
    assert!(op.text("#migrations").await.contains("tenant acme"));
    assert_eq!(
        op.text("#pending-summary").await,
        "Every database is current."
    );
    op.screenshot("09-migrations").await;

    // The tenant admin, in a browser of their own, sees acme and nothing else.
    let admin = driver.browser().await;
    admin.goto(&ui("/ui/login")).await;
    admin.fill("#credential", &admin_token).await;
    admin.submit("form[action='/ui/login'] button").await;
    assert!(
        admin.url().await.ends_with("/ui/tenant"),
        "{}",
        admin.url().await
    );
    let nav: Vec<String> = {
        let mut names = Vec::new();
        for link in admin.find_all("header nav a").await {
            names.push(link.text().await);
        }
        names
    };
    assert_eq!(nav, ["My tenant"]);
    let page = admin.text("main").await;
    assert!(page.contains(&hostname), "{page}");
    assert!(!page.contains("bravo"), "{page}");
    for section in ["#hosts", "#templates", "#sessions", "#tokens"] {
        assert!(admin.try_find(section).await.is_some(), "{section}");
    }
    admin.screenshot("10-tenant-admin").await;
    for path in [
        "/ui/tenants",
        "/ui/tenants/bravo",
        "/ui/instances",
        "/ui/migrations",
    ] {
        admin.goto(&ui(path)).await;
        assert_eq!(admin.text("h1").await, "Not yours to see", "{path}");
        assert!(!admin.text("main").await.contains("bravo-secret-host"));
    }
    admin.screenshot("11-tenant-admin-forbidden").await;

    // The operator deletes acme: the slug must be typed, then the purge is shown verified.
    op.goto(&ui("/ui/tenants/acme")).await;
    let delete = "form[action='/ui/tenants/acme/delete'] button";
    assert_eq!(
        op.find(delete).await.attribute("disabled").await.as_deref(),
        Some("true")
    );
    op.fill("#confirm", "acme").await;
    op.screenshot("12-delete-confirm").await;
    op.submit(delete).await;
    assert_eq!(op.text("h1").await, "acme is deleted");
    assert!(op.text("#purge-result").await.contains("verified"));
    op.screenshot("13-deleted").await;
    op.goto(&ui("/ui/tenants")).await;
    assert!(op.try_find("#tenants tr[data-slug='acme']").await.is_none());
    assert!(!server.storage_exists("acme").await);
    let (status, _) = call(server.op(Method::GET, "/api/v1/tenants/acme")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Its admin's session ends with the tenant.
    admin.goto(&ui("/ui/tenant")).await;
    assert!(
        admin.url().await.contains("/ui/login"),
        "{}",
        admin.url().await
    );

    // Signing out ends the operator's session.
    op.submit("form.signout button").await;
    op.goto(&ui("/ui/tenants")).await;
    assert!(op.url().await.ends_with("/ui/login"));

    admin.close().await;
    op.close().await;
}

const FORM: &str = "application/x-www-form-urlencoded";

/// A browser without a browser: cookies by hand, redirects not followed.
pub(crate) struct Visitor<'a> {
    /// The server it was made for, which must outlive it.
    _server: std::marker::PhantomData<&'a TestServer>,
    /// Where its requests go: that server, unless sent to another replica with `at`.
    base: String,
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

pub(crate) struct Answer {
    pub status: StatusCode,
    location: String,
    set_cookies: Vec<String>,
    pub body: String,
}

impl Answer {
    /// The CSRF token of the page's first form.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        self.body
            .split_once(marker)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(v, _)| v.to_owned())
            .unwrap_or_default()
    }
}

impl<'a> Visitor<'a> {
    pub fn new(server: &'a TestServer) -> Visitor<'a> {
        Visitor {
            _server: std::marker::PhantomData,
            base: server.url.clone(),
            http: crate::support::http()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
            cookies: Vec::new(),
        }
    }

    /// The same browser (its cookies) from now on at `url`: another replica.
    pub fn at(&mut self, url: &str) {
        self.base = url.to_owned();
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let jar: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let req = if jar.is_empty() {
            req
        } else {
            req.header(COOKIE, jar.join("; "))
        };
        let response = req.send().await.unwrap_or_else(|e| panic!("{e}"));
        let set_cookies: Vec<String> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for c in &set_cookies {
            if let Some((pair, _)) = c.split_once(';')
                && let Some((k, v)) = pair.split_once('=')
            {
                self.cookies.retain(|(name, _)| name != k);
                if !v.is_empty() {
                    self.cookies.push((k.to_owned(), v.to_owned()));
                }
            }
        }
        Answer {
            status: response.status(),
            location: response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            set_cookies,
            body: response.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, FORM)
            .body(serde_urlencoded::to_string(form).unwrap_or_default());
        self.send(req).await
    }

    pub async fn sign_in(&mut self, credential: &str) -> Answer {
        let form = self.get("/ui/login").await;
        let csrf = form.csrf();
        assert!(!csrf.is_empty());
        self.post("/ui/login", &[("csrf", &csrf), ("credential", credential)])
            .await
    }
}

async fn tenant_slugs(server: &TestServer) -> Vec<String> {
    let page: Page<Tenant> =
        answer(server.op(Method::GET, "/api/v1/tenants"), StatusCode::OK).await;
    page.items.into_iter().map(|t| t.slug).collect()
}

#[tokio::test]
async fn sessions_cookies_and_csrf() {
    let server = TestServer::start();
    let mut v = Visitor::new(&server);

    // The sign-in form itself needs its token.
    let refused = v.post("/ui/login", &[("credential", server.key())]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("Form refused"));
    let wrong = v.sign_in("tnt_wrong").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("not accepted"));
    assert!(!wrong.body.contains("invalid API key"), "no detail leaked");

    let signed_in = v.sign_in(server.key()).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let session_cookie = signed_in
        .set_cookies
        .iter()
        .find(|c| c.starts_with("tenantry_session="))
        .cloned()
        .unwrap_or_default();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age="] {
        assert!(session_cookie.contains(attr), "{session_cookie}");
    }
    assert!(
        !session_cookie.contains("Secure"),
        "plain http: {session_cookie}"
    );

    let page = v.get("/ui/tenants").await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    assert!(!csrf.is_empty());

    // A POST without the token, or with another one, is refused and changes nothing.
    let before = tenant_slugs(&server).await;
    let none = v.post("/ui/tenants", &[("slug", "sneaky")]).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    let forged = v
        .post(
            "/ui/tenants",
            &[("csrf", "forged-token"), ("slug", "sneaky")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(tenant_slugs(&server).await, before);
    let ok = v
        .post("/ui/tenants", &[("csrf", &csrf), ("slug", "fine")])
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.location, "/ui/tenants/fine");

    // Pages are not cached or framed.
    let page = v.get("/ui/tenants/fine").await;
    assert!(page.body.contains("is ready"));
    // Its plan and the limits enforced on it.
    assert!(
        page.body.contains(r#"<dd id="plan">default</dd>"#),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"<dd id="limits">none</dd>"#),
        "{}",
        page.body
    );
    let (status, _) = call(
        server
            .op(Method::PATCH, "/api/v1/tenants/fine")
            .json(&serde_json::json!({ "limits": { "requests_per_second": 7, "max_hosts": 3 } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = v.get("/ui/tenants/fine").await;
    assert!(
        page.body
            .contains(r#"<dd id="limits">requests / s 7, max hosts 3</dd>"#),
        "{}",
        page.body
    );

    // Suspended: the page still shows, with the API's refusal where the tenant's data was.
    let suspend = v
        .post(
            "/ui/tenants/fine/status",
            &[("csrf", &csrf), ("status", "suspended")],
        )
        .await;
    assert_eq!(suspend.status, StatusCode::SEE_OTHER);
    let page = v.get("/ui/tenants/fine").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("fine is suspended."), "the notice");
    assert!(
        page.body.contains("tenant fine is suspended"),
        "the API's refusal, in place"
    );

    // Behind a TLS-terminating proxy the cookie is Secure.
    let mut tls = Visitor::new(&server);
    let form = tls.get("/ui/login").await;
    let req = tls
        .http
        .post(format!("{}/ui/login", server.url))
        .header("x-forwarded-proto", "https")
        .header(CONTENT_TYPE, FORM)
        .body(
            serde_urlencoded::to_string([
                ("csrf", form.csrf().as_str()),
                ("credential", server.key()),
            ])
            .unwrap_or_default(),
        );
    let answer = tls.send(req).await;
    assert!(
        answer
            .set_cookies
            .iter()
            .any(|c| c.starts_with("tenantry_session=") && c.contains("; Secure")),
        "{:?}",
        answer.set_cookies
    );

    // Signing out ends the session on the server: the old cookie no longer works.
    let stolen = v.cookies.clone();
    let out = v.post("/ui/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let mut replay = Visitor::new(&server);
    replay.cookies = stolen;
    let after = replay.get("/ui/tenants").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location, "/ui/login");
}

#[tokio::test]
async fn a_tenant_admin_reaches_only_their_own_tenant() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    server.create_tenant("bravo").await;
    server.create_host("acme", "acme-host").await;
    server.create_host("bravo", "bravo-host").await;
    let (_, bravo_token) = server.enrollment_token("bravo").await;
    let admin_token = server.admin_token("acme").await;

    // Members cannot sign in; admins can.
    let keys = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    trusted_keypair(&server, keys.path(), "k.pem", &[]);
    let member = token(keys.path(), "k.pem", "acme", "member", &[]);
    let mut m = Visitor::new(&server);
    let answer = m.sign_in(&member).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.body.contains("Tenant members cannot sign in"));

    let mut v = Visitor::new(&server);
    assert_eq!(v.sign_in(&admin_token).await.status, StatusCode::SEE_OTHER);
    let home = v.get("/ui/tenant").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("acme-host"));
    assert!(!home.body.contains("bravo"));
    let csrf = home.csrf();

    // Every operator page is a 403 page, whatever tenant it names.
    for path in [
        "/ui/tenants",
        "/ui/tenants?q=bravo",
        "/ui/tenants/bravo",
        "/ui/tenants/acme",
        "/ui/instances",
        "/ui/migrations",
    ] {
        let page = v.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(!page.body.contains("bravo-host"), "{path}");
    }
    // Every form about another tenant (or an operator's form about their own) is refused
    // and changes nothing.
    let revoke = format!("/ui/tenants/bravo/enrollment-tokens/{bravo_token}/revoke");
    let forms: &[(&str, &[(&str, &str)])] = &[
        ("/ui/tenants", &[("slug", "mine")]),
        ("/ui/tenants/bravo/status", &[("status", "suspended")]),
        ("/ui/tenants/acme/status", &[("status", "suspended")]),
        (
            "/ui/tenants/bravo/domains",
            &[("domain", "steal.example.com")],
        ),
        ("/ui/tenants/bravo/admin-token", &[]),
        ("/ui/tenants/bravo/enrollment-tokens", &[]),
        (&revoke, &[]),
        ("/ui/tenants/bravo/delete", &[("confirm", "bravo")]),
        ("/ui/tenants/acme/delete", &[("confirm", "acme")]),
    ];
    for (path, fields) in forms {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let answer = v.post(path, &all).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(tenant_slugs(&server).await, ["acme", "bravo", "default"]);
    let bravo: Tenant = crate::support::answer(
        server.op(Method::GET, "/api/v1/tenants/bravo"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(bravo.status, TenantStatus::Active);
    let tokens: Page<EnrollmentToken> = crate::support::answer(
        server.op(Method::GET, "/api/v1/tenants/bravo/enrollment-tokens"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(tokens.items.len(), 1);
    assert!(!tokens.items[0].revoked);
    let domains: Page<Domain> = crate::support::answer(
        server.op(Method::GET, "/api/v1/tenants/bravo/domains"),
        StatusCode::OK,
    )
    .await;
    assert!(domains.items.is_empty());

    // Their own tenant's enrollment tokens are theirs to issue and revoke.
    let issued = v
        .post(
            "/ui/tenants/acme/enrollment-tokens",
            &[("csrf", &csrf), ("max_uses", "2")],
        )
        .await;
    assert_eq!(issued.status, StatusCode::SEE_OTHER);
    assert_eq!(issued.location, "/ui/tenant");
    let home = v.get("/ui/tenant").await;
    assert!(home.body.contains("tnte_"), "the new token, shown once");
    assert!(home.body.contains("0 of 2"));
}

/// A server on `pg`'s registry with operator key `key`, and Redis when given.
fn ui_replica(
    pg: &std::sync::Arc<crate::support::PgEnv>,
    key: &str,
    redis: Option<&tenantry_testkit::redis::RedisServer>,
) -> TestServer {
    let mut builder = TestServer::builder()
        .mode(crate::support::Mode::PgSchema)
        .pg(pg)
        .api_key(key);
    if let Some(redis) = redis {
        builder = builder.env("TENANTRY_CACHE__URL", &redis.url());
    }
    builder.start()
}

/// Sessions are shared by replicas (in the registry; in Redis when there is one): signed
/// in on A, the next page on B works; a server started afterwards (A's restart) knows the
/// session; signing out on B ends it everywhere.
#[tokio::test]
async fn ui_sessions_are_shared_by_replicas_and_outlive_a_restart() {
    let pg = crate::support::PgEnv::start();
    let key = crate::support::new_key();
    let replica = || ui_replica(&pg, &key, None);
    let a = replica();
    let b = replica();
    let mut v = Visitor::new(&a);
    assert_eq!(v.sign_in(&key).await.status, StatusCode::SEE_OTHER);
    v.at(&b.url);
    let page = v.get("/ui/tenants").await;
    assert_eq!(page.status, StatusCode::OK, "B does not know A's session");
    // A new process (as after a restart) signs nobody out.
    let c = replica();
    v.at(&c.url);
    let page = v.get("/ui/tenants").await;
    assert_eq!(page.status, StatusCode::OK, "a new server lost the session");
    let csrf = page.csrf();
    let kept = v.cookies.clone();
    v.at(&b.url);
    let out = v.post("/ui/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    // The browser cleared its cookie; a copy of it (`kept`) is refused on A all the same.
    assert!(v.cookies.iter().all(|(name, _)| name != "tenantry_session"));
    v.cookies = kept;
    v.at(&a.url);
    let page = v.get("/ui/tenants").await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "signed out on B, still in on A"
    );
    assert!(page.location.starts_with("/ui/login"), "{}", page.location);
}

/// With Redis, sessions live there (`tenantry:ui-session:<hash>`, sealed): shared by
/// replicas, and what Redis holds shows neither the cookie nor the credential.
#[tokio::test]
async fn with_redis_ui_sessions_live_there_sealed() {
    let pg = crate::support::PgEnv::start();
    let redis = tenantry_testkit::redis::RedisServer::start();
    let key = crate::support::new_key();
    let replica = || ui_replica(&pg, &key, Some(&redis));
    let (a, b) = (replica(), replica());
    let mut v = Visitor::new(&a);
    assert_eq!(v.sign_in(&key).await.status, StatusCode::SEE_OTHER);
    v.at(&b.url);
    assert_eq!(v.get("/ui/tenants").await.status, StatusCode::OK);
    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &redis.port.to_string()])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("redis-cli: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let keys: Vec<String> = cli(&["--scan", "--pattern", "tenantry:ui-session:*"])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let cookie = v
        .cookies
        .iter()
        .find(|(name, _)| name == "tenantry_session")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    assert!(!cookie.is_empty());
    let stored = cli(&["GET", &keys[0]]);
    assert!(!stored.contains(&key) && !stored.contains(&cookie) && !keys[0].contains(&cookie));
}
