//! Text the databases cannot store is refused at the door. PostgreSQL takes no NUL
//! character in `text` (SQLite takes it and cuts strings short), so a NUL anywhere in a
//! path, a query or a JSON string would otherwise reach the driver and fail as a 500.
//! A URI can carry a NUL only as `%00`, and JSON only as the escape `\u0000`.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tenantry_proto::codes;

use super::ApiError;

const NUL_IN_URI: &str = "%00";

/// Refuses a path or query that decodes to a NUL character: 400 `invalid_path` or
/// `invalid_query`.
pub async fn refuse_nul_in_uri(req: Request, next: Next) -> Response {
    let uri = req.uri();
    if contains_nul_escape(uri.path()) {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_PATH,
            "the path contains a NUL character (%00)",
        )
        .into_response();
    }
    if uri.query().is_some_and(contains_nul_escape) {
        return ApiError::bad_query("the query contains a NUL character (%00)").into_response();
    }
    next.run(req).await
}

fn contains_nul_escape(s: &str) -> bool {
    s.as_bytes()
        .windows(NUL_IN_URI.len())
        .any(|w| w.eq_ignore_ascii_case(NUL_IN_URI.as_bytes()))
}

/// 422 `invalid_body` when a JSON body has a NUL character in any string or key.
pub fn refuse_nul_in_json(bytes: &[u8]) -> Result<(), ApiError> {
    if json_has_nul(bytes) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::INVALID_BODY,
            "text may not contain NUL characters (\\u0000)",
        ));
    }
    Ok(())
}

/// Whether a JSON document has a NUL character in any string or key. Cheap unless the
/// bytes hold the escape at all; then the document is parsed to tell `"\u0000"` from an
/// escaped backslash followed by `u0000`.
fn json_has_nul(bytes: &[u8]) -> bool {
    const ESCAPE: &[u8] = b"\\u0000";
    if !bytes.windows(ESCAPE.len()).any(|w| w == ESCAPE) {
        return false;
    }
    serde_json::from_slice::<Value>(bytes).is_ok_and(|v| value_has_nul(&v))
}

fn value_has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(value_has_nul),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.contains('\0') || value_has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_found_in_uris_of_either_case() {
        assert!(contains_nul_escape("/api/v1/keys/%00"));
        assert!(contains_nul_escape("hostname=a%00b"));
        assert!(!contains_nul_escape("/api/v1/keys/%2500"));
        assert!(!contains_nul_escape("/api/v1/hosts"));
    }

    #[test]
    fn nul_characters_are_found_in_json_strings_and_keys_only() {
        assert!(json_has_nul(br#"{"template_name":"a\u0000"}"#));
        assert!(json_has_nul(br#"{"labels":{"k\u0000":"v"}}"#));
        assert!(json_has_nul(br#"[["\u0000"]]"#));
        // An escaped backslash, then the letters u0000: no NUL.
        assert!(!json_has_nul(br#"{"a":"\\u0000"}"#));
        assert!(!json_has_nul(br#"{"a":"b"}"#));
    }
}
