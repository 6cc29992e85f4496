//! Every error class is problem+json with the request id as `instance`.
use crate::both_backends;
use crate::helpers::problem;
use reqwest::StatusCode;

both_backends! {
    async fn unknown_route_is_404_problem(app) {
        let body = problem(app.get("/api/v1/does-not-exist").await, StatusCode::NOT_FOUND).await;
        assert_eq!(body["type"], "https://freeagentics.com/problems/not-found");
    }

    async fn wrong_method_is_405_problem_with_allow(app) {
        let response = app.client.delete(app.url("/health")).send().await.unwrap();
        let allow = response.headers().get("allow").unwrap().to_str().unwrap().to_owned();
        assert!(allow.contains("GET"), "{allow}");
        problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    }

    async fn oversized_body_is_413_problem(app) {
        let body = vec![b'x'; 2 * 1024 * 1024];
        let response = app.client.post(app.url("/health")).body(body).send().await.unwrap();
        problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    }

    async fn request_id_is_echoed_generated_or_replaced(app) {
        let response = app.client.get(app.url("/health")).header("x-request-id", "abc-123").send().await.unwrap();
        assert_eq!(response.headers()["x-request-id"], "abc-123");
        let generated = app.get("/health").await;
        let id = generated.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 36, "a generated UUID: {id}");
        // an id that could pollute logs is replaced, not echoed
        let hostile = "x".repeat(500);
        let response = app.client.get(app.url("/health")).header("x-request-id", &hostile).send().await.unwrap();
        assert_ne!(response.headers()["x-request-id"], hostile.as_str());
        let body = problem(app.client.get(app.url("/nope")).header("x-request-id", "trace-me").send().await.unwrap(), StatusCode::NOT_FOUND).await;
        assert_eq!(body["instance"], "trace-me");
    }

    async fn security_headers_and_no_store_on_api_routes(app) {
        let response = app.get("/api/v1/health").await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(headers["strict-transport-security"].to_str().unwrap().contains("max-age=31536000"));
        assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
        assert_eq!(headers["referrer-policy"], "strict-origin-when-cross-origin");
        assert_eq!(headers["cache-control"], "no-store");
        let problem = app.get("/api/v1/nope").await;
        assert_eq!(problem.headers()["cache-control"], "no-store", "errors are not cached either");
    }

    async fn cors_allows_listed_origins_only(app) {
        let preflight = |origin: &'static str| {
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/api/v1/health"))
                .header("origin", origin)
                .header("access-control-request-method", "GET")
                .send()
        };
        let allowed = preflight("http://localhost:3000").await.unwrap();
        assert_eq!(allowed.headers()["access-control-allow-origin"], "http://localhost:3000");
        assert_eq!(allowed.headers()["access-control-allow-credentials"], "true");
        let denied = preflight("https://evil.example").await.unwrap();
        assert!(!denied.headers().contains_key("access-control-allow-origin"));
    }

    async fn trailing_slashes_are_normalised(app) {
        assert_eq!(app.get("/api/v1/health/").await.status(), StatusCode::OK);
        assert_eq!(app.get("/health/").await.status(), StatusCode::OK);
    }

    async fn compression_is_negotiated(app) {
        let response = app.client.get(app.url("/api/v1/openapi.json")).header("accept-encoding", "gzip").send().await.unwrap();
        assert_eq!(response.headers()["content-encoding"], "gzip");
    }
}

/// A request that outlives `REQUEST_TIMEOUT_SECONDS` (here: a body that never finishes arriving)
/// is answered 503 problem+json with `Retry-After`, not left hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_with_503() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let options = crate::helpers::Options::new(crate::helpers::Backend::Sqlite).with("REQUEST_TIMEOUT_SECONDS", "0.3");
    let app = crate::helpers::TestApp::spawn_with(options).await.unwrap();
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = "POST /api/v1/auth/register HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{\"user";
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut response = String::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), socket.read_to_string(&mut response)).await;
    assert!(read.is_ok(), "the server answered instead of waiting for the body");
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    let lower = response.to_ascii_lowercase();
    assert!(lower.contains("content-type: application/problem+json"), "{response}");
    assert!(lower.contains("retry-after:"), "{response}");
}

/// The body limit holds at its edge, whether the size is announced (`Content-Length`, refused
/// before the body is read) or only discovered while reading a chunked body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_holds_at_its_edge() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let options = crate::helpers::Options::new(crate::helpers::Backend::Sqlite).with("MAX_BODY_BYTES", "1024");
    let app = crate::helpers::TestApp::spawn_with(options).await.unwrap();
    // a JSON body of exactly `len` bytes: an object padded with whitespace
    let body = |len: usize| format!("{{}}{}", " ".repeat(len - 2));
    let register = |len: usize| {
        app.client
            .post(app.url("/api/v1/auth/register"))
            .header("content-type", "application/json")
            .body(body(len))
            .send()
    };
    let at_limit = register(1024).await.unwrap();
    assert_eq!(at_limit.status(), StatusCode::UNPROCESSABLE_ENTITY, "read and validated, not refused for size");
    problem(register(1025).await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE).await;

    let chunked = |len: usize| async move {
        let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let payload = body(len);
        let request = format!(
            "POST /api/v1/auth/register HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             transfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{payload}\r\n0\r\n\r\n",
            payload.len()
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        socket.read_to_string(&mut response).await.unwrap();
        response
    };
    let within = chunked(1024).await;
    assert!(within.starts_with("HTTP/1.1 422"), "{within}");
    let over = chunked(1025).await;
    assert!(over.starts_with("HTTP/1.1 413"), "{over}");
    assert!(over.to_ascii_lowercase().contains("content-type: application/problem+json"), "{over}");
}
