//! A negative corpus of access tokens: every one is a 401 problem, never a 5xx.
use crate::both_backends;
use crate::helpers::{PASSWORD, Session, TEST_JWT_SECRET, problem};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(sub: &str) -> Value {
    json!({
        "iss": "freeagentics-auth", "aud": "freeagentics-api", "sub": sub, "role": "admin",
        "jti": uuid::Uuid::now_v7(), "typ": "access", "iat": (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0, "nbf": now(), "exp": now() + 600,
    })
}

fn sign(claims: &Value, algorithm: Algorithm, secret: &str) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some("primary".to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn unsigned(claims: &Value) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = engine.encode(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", engine.encode(claims.to_string()))
}

both_backends! {
    async fn forged_and_stale_tokens_are_401(app) {
        let victim = app.register("victim").await;
        let sub = victim.id.clone();
        // sanity: a correctly forged token (we know the test secret) is accepted, so each
        // rejection below is caused by the one thing changed
        assert_eq!(app.get_as("/api/v1/auth/me", &sign(&claims(&sub), Algorithm::HS256, TEST_JWT_SECRET)).await.status(), StatusCode::OK);

        let mut corpus: Vec<(&str, String)> = vec![
            ("alg none", unsigned(&claims(&sub))),
            ("algorithm swap HS512", sign(&claims(&sub), Algorithm::HS512, TEST_JWT_SECRET)),
            ("bad signature", sign(&claims(&sub), Algorithm::HS256, "another-secret-another-secret-another-secret")),
            ("garbage", "not.a.jwt".to_owned()),
            ("empty segments", "..".to_owned()),
            ("refresh token as access token", victim.refresh.clone()),
        ];
        let mut expired = claims(&sub);
        expired["exp"] = json!(now() - 120);
        corpus.push(("expired", sign(&expired, Algorithm::HS256, TEST_JWT_SECRET)));
        let mut early = claims(&sub);
        early["nbf"] = json!(now() + 600);
        corpus.push(("nbf in the future", sign(&early, Algorithm::HS256, TEST_JWT_SECRET)));
        let mut issuer = claims(&sub);
        issuer["iss"] = json!("someone-else");
        corpus.push(("wrong iss", sign(&issuer, Algorithm::HS256, TEST_JWT_SECRET)));
        let mut audience = claims(&sub);
        audience["aud"] = json!("another-api");
        corpus.push(("wrong aud", sign(&audience, Algorithm::HS256, TEST_JWT_SECRET)));
        let mut typ = claims(&sub);
        typ["typ"] = json!("refresh");
        corpus.push(("typ refresh", sign(&typ, Algorithm::HS256, TEST_JWT_SECRET)));
        let mut stale = claims(&sub);
        stale["iat"] = json!((now() - 3600) as f64);
        corpus.push(("issued before tokens_valid_after", sign(&stale, Algorithm::HS256, TEST_JWT_SECRET)));
        let mut ghost = claims(&uuid::Uuid::now_v7().to_string());
        ghost["role"] = json!("admin");
        corpus.push(("unknown subject", sign(&ghost, Algorithm::HS256, TEST_JWT_SECRET)));

        for (name, token) in &corpus {
            let response = app.get_as("/api/v1/auth/me", token).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
            problem(response, StatusCode::UNAUTHORIZED).await;
        }
        for header in ["Basic abc", "Bearer", "Bearer ", "token"] {
            let response = app.client.get(app.url("/api/v1/auth/me")).header("authorization", header).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
        }

        // a deactivated user's token
        let admin = app.user_with_role("root", "admin").await;
        let login = Session::from_body(app.login("victim", PASSWORD).await.json().await.unwrap());
        let deactivate = app.client.delete(app.url(&format!("/api/v1/users/{}", victim.id))).bearer_auth(&admin.access).send().await.unwrap();
        assert_eq!(deactivate.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.get_as("/api/v1/auth/me", &login.access).await.status(), StatusCode::UNAUTHORIZED);
        // even a freshly forged token for a deactivated user is refused
        assert_eq!(app.get_as("/api/v1/auth/me", &sign(&claims(&sub), Algorithm::HS256, TEST_JWT_SECRET)).await.status(), StatusCode::UNAUTHORIZED);
    }
}

/// Key rotation with EdDSA: tokens of the retired key stay valid under its `kid` while new tokens
/// are signed with the new key; the retired key is never accepted under the new key's `kid`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eddsa_rotation_accepts_the_retired_key_by_kid() {
    const NEW_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJVmmcSeNUuBb89E4t8dSFroP1+wSh4gziGWMLZGCKKR\n-----END PRIVATE KEY-----\n";
    const NEW_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA+Fd09jKbrxKFmNDyS3/ngdRC5WZD4xSwjpswwNjesKY=\n-----END PUBLIC KEY-----\n";
    const OLD_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIIc7FZ9d2mM67bCbOrAyKDk+a+4cOsP5cqAF/ERNHy/Z\n-----END PRIVATE KEY-----\n";
    const OLD_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEATcENsxszvMibPOjPLvj9wJctHTyFOz1zp21tbZ+J/SA=\n-----END PUBLIC KEY-----\n";
    let options = crate::helpers::Options::new(crate::helpers::Backend::Sqlite)
        .with("JWT_ALGORITHM", "EdDSA")
        .with("JWT_KEY_ID", "ed-2")
        .with("JWT_PRIVATE_KEY", NEW_PRIVATE)
        .with("JWT_PUBLIC_KEY", NEW_PUBLIC)
        .with("JWT_PREVIOUS_KEY_ID", "ed-1")
        .with("JWT_PREVIOUS_PUBLIC_KEY", OLD_PUBLIC);
    let app = crate::helpers::TestApp::spawn_with(options).await.unwrap();
    let user = app.register("rotated").await;
    let issued = jsonwebtoken::decode_header(&user.access).unwrap();
    assert_eq!((issued.alg, issued.kid.as_deref()), (Algorithm::EdDSA, Some("ed-2")), "new tokens use the new key");
    let old_token = |kid: &str| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        let key = EncodingKey::from_ed_pem(OLD_PRIVATE.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &claims(&user.id), &key).unwrap()
    };
    assert_eq!(app.get_as("/api/v1/auth/me", &old_token("ed-1")).await.status(), StatusCode::OK);
    problem(app.get_as("/api/v1/auth/me", &old_token("ed-2")).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(app.get_as("/api/v1/auth/me", &user.access).await.status(), StatusCode::OK);
}
