//! Paths that more than one part of the crate names: the router registers them, the middleware
//! and the OpenAPI document refer to them. A leaf module, so none of those depend on each other.

/// The generated OpenAPI document.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
/// The vendored Swagger UI; it serves its assets below this path.
pub const DOCS_PATH: &str = "/api/docs";
/// The Prometheus scrape endpoint.
pub const METRICS_PATH: &str = "/metrics";
