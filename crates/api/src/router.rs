//! Routes. Documented routes are registered through `utoipa_axum::routes!`, so the OpenAPI spec is
//! generated from the same declarations that serve requests.
use crate::middleware::compression::CompressLayer;
use crate::middleware::normalize::trim_trailing_slash;
use crate::middleware::stack::StackLayer;
use crate::routes::{audit_events, auth, health, metrics, users};
use crate::{ApiError, AppState, openapi};
use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use std::convert::Infallible;
use std::net::SocketAddr;
use tower::{Service, ServiceBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
pub const DOCS_PATH: &str = "/api/docs";

/// Every documented route, without state: `openapi::spec` reads the spec from it.
pub(crate) fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(metrics::render))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::deactivate))
        .routes(routes!(audit_events::list))
}

/// The whole application: documented routes, probe aliases, docs UI, the 404 fallback, and the
/// middleware stack (`middleware::stack`) around each of them — inside the router, so the stack
/// knows the matched route template.
pub fn build_router(state: AppState) -> Router {
    let (routes, spec) = documented_routes().split_for_parts();
    routes
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .merge(SwaggerUi::new(DOCS_PATH).url(OPENAPI_PATH, spec))
        .fallback(|| async { ApiError::NotFound })
        .layer(StackLayer::new(state.clone()))
        .with_state(state)
}

/// What the server runs, outermost first: compression, path normalisation (before routing, so
/// `/api/v1/users/` finds its route), the router. Body sizes are checked by the stack (declared
/// lengths) and by `ValidJson` as it reads (`extract::json`), both against `max_body_bytes`.
pub fn into_service(
    state: AppState,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<
    impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static,
    SocketAddr,
> {
    use axum::ServiceExt as _;
    ServiceBuilder::new()
        .layer(CompressLayer)
        .map_request(trim_trailing_slash)
        .service(build_router(state))
        .into_make_service_with_connect_info::<SocketAddr>()
}

/// `/metrics` alone, for its own listener (`METRICS_BIND_ADDR`), through the same middleware stack
/// so scrapes are measured and logged like every request.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(|State(state): State<AppState>| async move { metrics::scrape(&state) }))
        .fallback(|| async { ApiError::NotFound })
        .layer(StackLayer::new(state.clone()))
        .with_state(state)
}

/// [`metrics_router`] with the same outer layers as [`into_service`].
pub fn metrics_service(
    state: AppState,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<
    impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static,
    SocketAddr,
> {
    use axum::ServiceExt as _;
    ServiceBuilder::new()
        .layer(CompressLayer)
        .map_request(trim_trailing_slash)
        .service(metrics_router(state))
        .into_make_service_with_connect_info::<SocketAddr>()
}
