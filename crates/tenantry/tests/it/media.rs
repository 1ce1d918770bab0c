//! A tenant's media: files in the media store, streamed in and out, seen by its tenant only,
//! whole or not at all whatever the client does, and shared by replicas on one store.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use serde_json::json;
use tenantry_proto::{MediaObject, Page, PurgeReport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use tenantry_testkit::s3::S3Server;

use crate::on_every_backend;
use crate::support::{Mode, PgEnv, TestServer, answer, call, expect_problem, new_key, until};

on_every_backend!(files_round_trip_and_stay_in_their_tenant);

async fn put(
    server: &TestServer,
    tenant: &str,
    name: &str,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    call(
        server
            .as_tenant(tenant, Method::PUT, &format!("/api/v1/media/{name}"))
            .body(body),
    )
    .await
}

async fn names(server: &TestServer, tenant: &str) -> Vec<(String, u64)> {
    let page: Page<MediaObject> = answer(
        server.as_tenant(tenant, Method::GET, "/api/v1/media"),
        StatusCode::OK,
    )
    .await;
    page.items.into_iter().map(|o| (o.name, o.size)).collect()
}

async fn content(server: &TestServer, tenant: &str, name: &str) -> (StatusCode, Vec<u8>) {
    let response = server
        .as_tenant(tenant, Method::GET, &format!("/api/v1/media/{name}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_else(|e| panic!("{e}"));
    (status, bytes.to_vec())
}

async fn files_round_trip_and_stay_in_their_tenant(mode: Mode) {
    let server = TestServer::start_on(mode);
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    // Bytes a browser would render if it were let to: served as an attachment, unsniffed.
    let page = b"<html><script>alert(1)</script></html>\x00\xff".to_vec();
    let (status, body) = put(&server, "acme", "boot.img", page.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["size"], json!(page.len()));

    let response = server
        .as_tenant("acme", Method::GET, "/api/v1/media/boot.img")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "application/octet-stream");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"boot.img\""
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(headers.contains_key(header::ETAG), "{headers:?}");
    assert_eq!(response.bytes().await.unwrap_or_default().to_vec(), page);

    // Asked again with its tag: 304, no body; with a stale one (or none): the file.
    let etag = headers[header::ETAG].clone();
    let again = server
        .as_tenant("acme", Method::GET, "/api/v1/media/boot.img")
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG], etag);
    assert!(again.bytes().await.unwrap_or_default().is_empty());

    // Replaced: 200, the new content.
    let (status, body) = put(&server, "acme", "boot.img", b"v2".to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content(&server, "acme", "boot.img").await.1, b"v2");
    let stale = server
        .as_tenant("acme", Method::GET, "/api/v1/media/boot.img")
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stale.status(), StatusCode::OK, "a stale tag got 304");
    assert_eq!(stale.bytes().await.unwrap_or_default().to_vec(), b"v2");

    // B sees none of it, by name or by listing, and cannot remove it.
    assert_eq!(
        content(&server, "beta", "boot.img").await.0,
        StatusCode::NOT_FOUND
    );
    assert!(names(&server, "beta").await.is_empty());
    expect_problem(
        server.as_tenant("beta", Method::DELETE, "/api/v1/media/boot.img"),
        StatusCode::NOT_FOUND,
        "media_not_found",
    )
    .await;
    assert_eq!(names(&server, "acme").await, [("boot.img".to_owned(), 2)]);

    // Names that could leave the tenant's place are refused before anything is touched.
    for bad in [".hidden", "a%2F..%2Fb", "a%23b", "..%2Fbeta", "a%20b"] {
        let (status, body) = put(&server, "acme", bad, b"x".to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["code"], "invalid_media_name", "{bad}: {body}");
    }

    // Pages by name.
    for name in ["c", "a", "b"] {
        assert_eq!(
            put(&server, "beta", name, b"x".to_vec()).await.0,
            StatusCode::CREATED
        );
    }
    let first: Page<MediaObject> = answer(
        server.as_tenant("beta", Method::GET, "/api/v1/media?limit=2"),
        StatusCode::OK,
    )
    .await;
    let first_names: Vec<&str> = first.items.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(first_names, ["a", "b"]);
    let cursor = first.next_cursor.unwrap_or_default();
    let rest: Page<MediaObject> = answer(
        server.as_tenant(
            "beta",
            Method::GET,
            &format!("/api/v1/media?limit=2&cursor={cursor}"),
        ),
        StatusCode::OK,
    )
    .await;
    let rest_names: Vec<&str> = rest.items.iter().map(|o| o.name.as_str()).collect();
    assert_eq!((rest_names, rest.next_cursor), (vec!["c"], None));

    // Removed.
    let (status, _) =
        call(server.as_tenant("acme", Method::DELETE, "/api/v1/media/boot.img")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        content(&server, "acme", "boot.img").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        names(&server, "beta").await.len(),
        3,
        "B's files were touched"
    );
}

/// The raw start of a PUT of `length` bytes as the operator acting as `tenant`.
fn put_head(server: &TestServer, tenant: &str, name: &str, length: Option<usize>) -> String {
    let framing = match length {
        Some(n) => format!("Content-Length: {n}"),
        None => "Transfer-Encoding: chunked".to_owned(),
    };
    format!(
        "PUT /api/v1/media/{name} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nX-Tenantry-Tenant: {tenant}\r\n{framing}\r\n\r\n",
        server.key()
    )
}

async fn connect(server: &TestServer) -> TcpStream {
    let addr = server
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/');
    TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Reads what the server answers on `stream`, up to the end of its head and a little body.
async fn status_line(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no answer"))
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn an_upload_cut_short_or_too_large_stores_nothing() {
    let server = TestServer::builder()
        .env("TENANTRY_MEDIA__UPLOADS_PER_TENANT", "1")
        .env("TENANTRY_MEDIA__UPLOAD_IDLE_TIMEOUT", "1s")
        .env("TENANTRY_MEDIA__MAX_OBJECT_BYTES", "100000")
        .start();
    server.create_tenant("acme").await;
    assert_eq!(
        put(&server, "acme", "img", b"old".to_vec()).await.0,
        StatusCode::CREATED
    );
    let unchanged = async || {
        names(&server, "acme")
            .await
            .contains(&("img".to_owned(), 3))
            && content(&server, "acme", "img").await.1 == b"old"
    };

    // Hung up half-way through the body: nothing replaced, and the tenant's only upload
    // slot is free again.
    let mut stream = connect(&server).await;
    let head = put_head(&server, "acme", "img", Some(80_000));
    stream
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    stream
        .write_all(&[7u8; 40_000])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    stream.set_zero_linger().unwrap_or_else(|e| panic!("{e}"));
    drop(stream);
    until(5, "the slot is free after the hang-up", async || {
        put(&server, "acme", "probe", b"p".to_vec()).await.0 == StatusCode::CREATED
    })
    .await;
    assert!(unchanged().await, "the cut-short upload replaced the file");

    // Stalled: given up after the idle timeout with 408, nothing stored.
    let mut stream = connect(&server).await;
    let head = put_head(&server, "acme", "img", Some(10_000));
    stream
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    stream
        .write_all(&[7u8; 100])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let answer_line = status_line(&mut stream).await;
    assert!(answer_line.starts_with("HTTP/1.1 408"), "{answer_line}");
    assert!(answer_line.contains("upload_incomplete"), "{answer_line}");
    drop(stream);

    // Too large, announced: refused before the body is read.
    let (status, body) = put(&server, "acme", "img", vec![1u8; 100_001]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "payload_too_large");
    // Too large, not announced (chunked): cut off once it passes the limit.
    let mut stream = connect(&server).await;
    let head = put_head(&server, "acme", "img", None);
    stream
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let chunk = [9u8; 50_000];
    for _ in 0..3 {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let answer_line = status_line(&mut stream).await;
    assert!(answer_line.starts_with("HTTP/1.1 413"), "{answer_line}");
    drop(stream);

    assert!(unchanged().await, "a refused upload changed the file");
    let (status, body) = put(&server, "acme", "img", b"new".to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn media_count_against_the_storage_quota() {
    let server = TestServer::start();
    server.create_tenant("acme").await;
    let (status, body) = call(
        server
            .op(Method::PATCH, "/api/v1/tenants/acme")
            .json(&json!({ "limits": { "storage_bytes": 4_000_000 } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Larger than what is left of the quota: refused, nothing kept. The client sends the
    // whole body before it reads the answer (as most do), far more than socket buffers
    // hold: it still gets the answer, not a reset connection.
    let (status, body) = put(&server, "acme", "big", vec![0u8; 12_000_000]).await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["code"], "storage_quota_exceeded");
    assert!(names(&server, "acme").await.is_empty());
    // What fits is stored, and counts: the tenant's next large write no longer fits.
    let (status, body) = put(&server, "acme", "half", vec![0u8; 2_500_000]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = put(&server, "acme", "more", vec![0u8; 2_500_000]).await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(
        names(&server, "acme").await,
        [("half".to_owned(), 2_500_000)]
    );
}

/// Two replicas with one media directory (as on a shared file system).
fn shared_replica(pg: &Arc<PgEnv>, key: &str, media: &Path) -> TestServer {
    TestServer::builder()
        .mode(Mode::PgDatabase)
        .pg(pg)
        .api_key(key)
        .env(
            "TENANTRY_MEDIA__URL",
            &format!("file://{}", media.display()),
        )
        .start()
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn replicas_on_one_store_share_media_and_a_purge_through_either_removes_it() {
    let pg = PgEnv::start();
    let key = new_key();
    let shared = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let a = shared_replica(&pg, &key, shared.path());
    let b = shared_replica(&pg, &key, shared.path());
    a.create_tenant("acme").await;
    a.create_tenant("beta").await;
    assert_eq!(
        put(&a, "acme", "kernel", b"k1".to_vec()).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        put(&a, "beta", "kernel", b"b1".to_vec()).await.0,
        StatusCode::CREATED
    );
    until(5, "B serves acme", async || {
        content(&b, "acme", "kernel").await == (StatusCode::OK, b"k1".to_vec())
    })
    .await;

    // An upload on A, half sent, while B deletes the tenant: the purge does not wait for
    // A, and what A finishes storing afterwards is not kept.
    let mut stream = connect(&a).await;
    let head = put_head(&a, "acme", "late", Some(20));
    stream
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    stream
        .write_all(&[1u8; 10])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let report: PurgeReport =
        answer(b.op(Method::DELETE, "/api/v1/tenants/acme"), StatusCode::OK).await;
    assert!(report.verified && report.media_removed, "{report:?}");
    stream
        .write_all(&[1u8; 10])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let answer_line = status_line(&mut stream).await;
    assert!(
        answer_line.starts_with("HTTP/1.1 409") && answer_line.contains("tenant_deleting"),
        "{answer_line}"
    );
    assert_eq!(entries(shared.path()), ["beta"], "acme's media are left");

    // A new tenant of the slug starts empty on both replicas; B's neighbour is untouched.
    a.create_tenant("acme").await;
    assert!(names(&a, "acme").await.is_empty());
    until(5, "B serves the new acme", async || {
        call(b.as_tenant("acme", Method::GET, "/api/v1/media"))
            .await
            .0
            == StatusCode::OK
    })
    .await;
    assert!(names(&b, "acme").await.is_empty());
    assert_eq!(content(&b, "beta", "kernel").await.1, b"b1");
}

/// What the bucket holds under `prefix`, by the S3 API itself.
async fn bucket_keys(s3: &S3Server, prefix: &str) -> Vec<String> {
    let url = format!("{}/tenantry?list-type=2&prefix={prefix}", s3.endpoint());
    let listing = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_owned()))
        .collect()
}

#[tokio::test]
async fn media_on_an_s3_store_round_trip_in_parts_and_are_purged() {
    tenantry_server::tls::install_default_provider();
    let s3 = S3Server::start();
    // The operator's bucket.
    let made = reqwest::Client::new()
        .put(format!("{}/tenantry", s3.endpoint()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(made.status().is_success(), "{made:?}");
    let server = TestServer::builder()
        .env("TENANTRY_MEDIA__URL", "s3://tenantry/media")
        .env("TENANTRY_MEDIA__S3__ENDPOINT", &s3.endpoint())
        .env("TENANTRY_MEDIA__S3__ALLOW_HTTP", "true")
        .env("TENANTRY_MEDIA__S3__REGION", "us-east-1")
        .env("TENANTRY_MEDIA__S3__ACCESS_KEY_ID", "tenantry")
        .env("TENANTRY_MEDIA__S3__SECRET_ACCESS_KEY", "not-a-real-secret")
        .start();
    server.create_tenant("acme").await;
    server.create_tenant("beta").await;
    // Larger than one part (5 MiB): a multipart upload.
    let image: Vec<u8> = (0..12_000_000u32).map(|i| (i % 251) as u8).collect();
    let (status, body) = put(&server, "acme", "rootfs.img", image.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        put(&server, "beta", "kernel", b"b".to_vec()).await.0,
        StatusCode::CREATED
    );
    let (status, back) = content(&server, "acme", "rootfs.img").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        back == image,
        "the image came back changed ({} bytes)",
        back.len()
    );
    let tagged = server
        .as_tenant("acme", Method::GET, "/api/v1/media/rootfs.img")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let etag = tagged.headers()[header::ETAG].clone();
    drop(tagged);
    let again = server
        .as_tenant("acme", Method::GET, "/api/v1/media/rootfs.img")
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "S3's own tag");
    assert_eq!(bucket_keys(&s3, "media/acme/").await.len(), 1);

    let report: PurgeReport = answer(
        server.op(Method::DELETE, "/api/v1/tenants/acme"),
        StatusCode::OK,
    )
    .await;
    assert!(report.verified && report.media_removed, "{report:?}");
    assert!(bucket_keys(&s3, "media/acme/").await.is_empty());
    assert_eq!(
        bucket_keys(&s3, "media/beta/").await.len(),
        1,
        "B's file went too"
    );
}
