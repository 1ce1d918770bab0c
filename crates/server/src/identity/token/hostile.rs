//! Hostile tokens: validly signed but with poisonous claims, and arbitrary input.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;

use super::*;

/// Signs an arbitrary payload (bytes, not necessarily sane JSON) with `key`.
fn signed(key: &PrivateKey, payload: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, key.public.kid));
    let message = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let encoding = key.encoding_key().unwrap_or_else(|e| panic!("{e}"));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &encoding,
        jsonwebtoken::Algorithm::EdDSA,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    format!("{message}.{signature}")
}

#[test]
fn poisonous_claims_are_refused_without_panicking() {
    let key = PrivateKey::generate(KeyAlg::EdDsa).unwrap_or_else(|e| panic!("{e}"));
    let trusted = TrustedKey::new(&key.public, None).unwrap_or_else(|e| panic!("{e}"));
    let lookup = |kid: &str| (kid == trusted.kid).then_some(&trusted);
    let t = now();
    let base = format!(
        r#""sub":"s","role":"admin","iat":{t},"nbf":{t},"exp":{}"#,
        t + 60
    );
    let bomb = format!(
        r#"{{{base},"tenant":"acme","x":{}1{}}}"#,
        "[".repeat(3000),
        "]".repeat(3000)
    );
    let cases = [
        format!(r#"{{{base},"tenant":"acme","tenant":"beta"}}"#),
        bomb,
        format!(r#"{{{base},"tenant":42}}"#),
        format!(r#"{{{base},"tenant":"acme","role":"root"}}"#),
        format!(r#"{{{base}}}"#),
        "not json".to_owned(),
        format!(r#"{{{base},"tenant":"acme""#),
    ];
    for payload in cases {
        let token = signed(&key, &payload);
        let result = verify(&token, lookup, None);
        assert!(
            matches!(
                result,
                Err(TokenError::BadClaims(_) | TokenError::Malformed(_))
            ),
            "{:.60}: {result:?}",
            payload
        );
    }
    // The same machinery accepts a sane payload, so the refusals above are about content.
    let ok = signed(&key, &format!(r#"{{{base},"tenant":"acme"}}"#));
    assert!(verify(&ok, lookup, None).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_tokens_never_panic_and_never_verify(token in "\\PC{0,300}", dots in 0usize..5) {
        let key = TrustedKey::new(
            &PublicKey::from_pem(SAMPLE_PUBLIC).unwrap_or_else(|e| panic!("{e}")),
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let token = format!("{token}{}", ".x".repeat(dots));
        let result = verify(&token, |kid| (kid == key.kid).then_some(&key), None);
        prop_assert!(result.is_err());
    }

    #[test]
    fn structured_garbage_never_verifies(header in "[A-Za-z0-9_-]{0,80}", payload in "[A-Za-z0-9_-]{0,200}", sig in "[A-Za-z0-9_-]{0,120}") {
        let token = format!("{header}.{payload}.{sig}");
        let result = verify(&token, |_| None, None);
        prop_assert!(result.is_err());
    }
}

const SAMPLE_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
