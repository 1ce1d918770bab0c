//! A real headless Chromium, driven over the W3C WebDriver protocol by Debian's
//! `chromedriver` (scripts/test installs `chromium` and `chromium-driver`). The client is
//! the dozen commands the UI tests use, over reqwest; nothing else is needed.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use base64::Engine;
use serde_json::{Value, json};
use tempfile::TempDir;
use tenantry_testkit::pg::free_port;
use tenantry_testkit::process::start_when_ready;

/// The key WebDriver names elements by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const TAB: &str = "\u{E004}";

/// A `chromedriver` on a free loopback port; killed (with its browsers) when dropped.
pub struct Driver {
    url: String,
    child: Child,
}

impl Driver {
    pub fn start() -> Driver {
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new("chromedriver");
            cmd.arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                // Its own process group, so dropping the driver takes every browser
                // process it started with it (some outlive a closed session).
                .process_group(0);
            // It says so once it listens; it exits if the port was taken meanwhile.
            let ready = |line: &str| line.contains("started successfully");
            let hint = "starting chromedriver; run scripts/test, which installs chromium-driver";
            if let Some(child) = start_when_ready(cmd, ready, hint) {
                return Driver {
                    url: format!("http://127.0.0.1:{port}"),
                    child,
                };
            }
        }
        panic!("chromedriver did not start");
    }

    /// A new browser with a fresh profile: its own cookies, nothing shared.
    pub async fn browser(&self) -> Browser {
        let profile = TempDir::new().unwrap_or_else(|e| panic!("{e}"));
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium_binary(), "args": args },
        }}});
        let http = crate::support::http()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let created = command(
            &http,
            reqwest::Method::POST,
            &format!("{}/session", self.url),
            Some(caps),
        )
        .await;
        let id = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Browser {
            http,
            base: format!("{}/session/{id}", self.url),
            _profile: profile,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn chromium_binary() -> &'static str {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .unwrap_or("/usr/bin/chromium")
}

async fn command(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Value {
    let mut req = http.request(method.clone(), url);
    // WebDriver wants a JSON body on every POST, even an empty one.
    if method == reqwest::Method::POST {
        req = req.json(&body.unwrap_or_else(|| json!({})));
    }
    let response = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status();
    let value: Value = response.json().await.unwrap_or_default();
    assert!(status.is_success(), "{method} {url}: {status} {value}");
    value["value"].clone()
}

/// One browser window.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    _profile: TempDir,
}

/// An element of the current page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Browser {
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        command(&self.http, method, &format!("{}{path}", self.base), body).await
    }

    /// Opens the page and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn find(&self, css: &str) -> Element<'_> {
        match self.try_find(css).await {
            Some(e) => e,
            None => panic!("no `{css}` on {}", self.url().await),
        }
    }

    pub async fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let found = self.find_all(css).await;
        found.into_iter().next()
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str())
            .map(|id| Element {
                browser: self,
                id: id.to_owned(),
            })
            .collect()
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await
    }

    /// Types into the field matching `css` (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.post("/clear").await;
        e.post_with("/value", json!({ "text": text })).await;
    }

    /// Clicks a button that submits a form, and waits until the next page has loaded:
    /// the old document carries a mark the new one lacks.
    pub async fn submit(&self, css: &str) {
        let button = self.find(css).await;
        self.script("window.__tenantryOld = true; return true;")
            .await;
        button.post("/click").await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let loaded =
            "return window.__tenantryOld === undefined && document.readyState === 'complete';";
        while self.script(loaded).await != Value::Bool(true) {
            assert!(
                std::time::Instant::now() < deadline,
                "no new page after clicking `{css}`"
            );
        }
    }

    async fn script(&self, body: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": body, "args": [] })),
        )
        .await
    }

    /// Presses Tab once; returns the text of the element that has focus then.
    pub async fn tab(&self) -> String {
        let key = |kind: &str| json!({ "type": kind, "value": TAB });
        self.cmd(
            reqwest::Method::POST,
            "/actions",
            Some(json!({ "actions": [{
                "type": "key", "id": "keyboard", "actions": [key("keyDown"), key("keyUp")]
            }]})),
        )
        .await;
        let active = self
            .cmd(reqwest::Method::GET, "/element/active", None)
            .await;
        let id = active[ELEMENT].as_str().unwrap_or_default().to_owned();
        Element { browser: self, id }.text().await
    }

    /// Resizes the window (e.g. to a phone's width).
    pub async fn resize(&self, width: u32, height: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// Whether the page is wider than the window (a table or form that does not fit).
    pub async fn scrolls_sideways(&self) -> bool {
        self.script("return document.documentElement.scrollWidth > window.innerWidth;")
            .await
            == Value::Bool(true)
    }

    /// The elements wider than the window, outermost first (to say what overflows).
    pub async fn widest(&self) -> Value {
        self.script(
            "return [...document.querySelectorAll('body *')]\
               .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)\
               .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right));",
        )
        .await
    }

    /// Saves a PNG of the window to `target/ui-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let data = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    pub async fn close(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}

impl Element<'_> {
    async fn post(&self, what: &str) -> Value {
        self.post_with(what, json!({})).await
    }

    async fn post_with(&self, what: &str, body: Value) -> Value {
        self.browser
            .cmd(
                reqwest::Method::POST,
                &format!("/element/{}{what}", self.id),
                Some(body),
            )
            .await
    }

    pub async fn text(&self) -> String {
        self.browser
            .cmd(
                reqwest::Method::GET,
                &format!("/element/{}/text", self.id),
                None,
            )
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn attribute(&self, name: &str) -> Option<String> {
        self.browser
            .cmd(
                reqwest::Method::GET,
                &format!("/element/{}/attribute/{name}", self.id),
                None,
            )
            .await
            .as_str()
            .map(str::to_owned)
    }
}
