//! The committed spec (docs/openapi.json) must equal the one generated from the code.
use crate::both_backends;
use reqwest::StatusCode;

#[test]
fn committed_spec_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let generated = freeagentics_api::openapi::spec_json();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test --test api openapi` and commit it"
    );
}

both_backends! {
    async fn spec_and_docs_ui_are_served_offline(app) {
        let response = app.get("/api/v1/openapi.json").await;
        assert_eq!(response.status(), StatusCode::OK);
        let spec: serde_json::Value = response.json().await.unwrap();
        assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(spec["paths"]["/api/v1/health"].is_object());
        let ui = app.get("/api/docs/").await;
        assert_eq!(ui.status(), StatusCode::OK);
        let html = ui.text().await.unwrap();
        assert!(html.contains("swagger"), "the vendored Swagger UI page");
        assert!(!html.contains("https://"), "the docs page must not load anything remote");
        let bare = app.get("/api/docs").await;
        assert!(bare.status().is_redirection());
    }
}
