use super::*;

fn claims(tenant: &str, from: u64, to: u64, aud: Option<&str>) -> Claims {
    Claims {
        sub: "ci".into(),
        tenant: tenant.into(),
        role: Role::Admin,
        aud: aud.map(str::to_owned),
        iat: from,
        nbf: from,
        exp: to,
        tid: None,
    }
}

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[test]
fn verifies_and_refuses_precisely() {
    let key = PrivateKey::generate(KeyAlg::EdDsa).unwrap_or_else(|e| panic!("{e}"));
    let trusted = TrustedKey::new(&key.public, None).unwrap_or_else(|e| panic!("{e}"));
    let restricted =
        TrustedKey::new(&key.public, Some("beta".into())).unwrap_or_else(|e| panic!("{e}"));
    let lookup = |kid: &str| (kid == trusted.kid).then_some(&trusted);
    let t = now();
    let ok =
        mint(&key, &claims("acme", t, t + 60, Some("tenantry"))).unwrap_or_else(|e| panic!("{e}"));
    let v = verify(&ok, lookup, Some("tenantry")).map(|v| v.claims.tenant);
    assert_eq!(v, Ok("acme".into()));
    assert_eq!(
        verify(&ok, lookup, Some("other")).err(),
        Some(TokenError::WrongAudience)
    );
    let no_aud = mint(&key, &claims("acme", t, t + 60, None)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        verify(&no_aud, lookup, Some("tenantry")).err(),
        Some(TokenError::WrongAudience)
    );
    assert!(verify(&no_aud, lookup, None).is_ok());
    let only_beta = |kid: &str| (kid == restricted.kid).then_some(&restricted);
    assert!(matches!(
        verify(&ok, only_beta, None),
        Err(TokenError::KeyTenantMismatch { .. })
    ));

    let expired =
        mint(&key, &claims("acme", t - 600, t - 300, None)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        verify(&expired, lookup, None).err(),
        Some(TokenError::Expired)
    );
    let early =
        mint(&key, &claims("acme", t + 600, t + 900, None)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        verify(&early, lookup, None).err(),
        Some(TokenError::NotYetValid)
    );

    let mut parts: Vec<String> = ok.split('.').map(str::to_owned).collect();
    let payload = parts[1].clone();
    let sig = parts[2].clone();
    let none = format!(
        "{}.{payload}.",
        b64(&serde_json::json!({"alg": "none", "kid": trusted.kid}))
    );
    assert_eq!(verify(&none, lookup, None).err(), Some(TokenError::AlgNone));
    let hmac = format!(
        "{}.{payload}.{sig}",
        b64(&serde_json::json!({"alg": "HS256", "kid": trusted.kid}))
    );
    assert_eq!(verify(&hmac, lookup, None).err(), Some(TokenError::Hmac));
    let rs = format!(
        "{}.{payload}.{sig}",
        b64(&serde_json::json!({"alg": "RS256", "kid": trusted.kid}))
    );
    assert!(matches!(
        verify(&rs, lookup, None),
        Err(TokenError::AlgorithmMismatch { .. })
    ));
    let unknown = format!(
        "{}.{payload}.{sig}",
        b64(&serde_json::json!({"alg": "EdDSA", "kid": "nope"}))
    );
    assert_eq!(
        verify(&unknown, lookup, None).err(),
        Some(TokenError::UnknownKid("nope".into()))
    );
    let long_kid = format!(
        "{}.{payload}.{sig}",
        b64(&serde_json::json!({"alg": "EdDSA", "kid": "k".repeat(500)}))
    );
    assert!(matches!(
        verify(&long_kid, lookup, None),
        Err(TokenError::Malformed(_))
    ));

    // One flipped byte in the payload breaks the signature.
    let tampered_claims = claims("beta", t, t + 60, Some("tenantry"));
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered_claims).unwrap_or_default());
    assert_eq!(
        verify(&parts.join("."), lookup, Some("tenantry")).err(),
        Some(TokenError::BadSignature)
    );

    for junk in ["", "a.b", "a.b.c.d", "!!!.b.c", &"x".repeat(MAX_TOKEN + 1)] {
        assert!(
            matches!(verify(junk, lookup, None), Err(TokenError::Malformed(_))),
            "{junk:.20}"
        );
    }
}

#[test]
fn rsa_keys_sign_and_verify() {
    let key = PrivateKey::generate(KeyAlg::Rs256).unwrap_or_else(|e| panic!("{e}"));
    let trusted = TrustedKey::new(&key.public, None).unwrap_or_else(|e| panic!("{e}"));
    let t = now();
    let token = mint(&key, &claims("acme", t, t + 60, None)).unwrap_or_else(|e| panic!("{e}"));
    let v = verify(&token, |k| (k == trusted.kid).then_some(&trusted), None);
    assert_eq!(v.map(|v| v.claims.role).ok(), Some(Role::Admin));
}
