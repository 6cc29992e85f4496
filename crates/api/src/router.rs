//! Routes. Documented routes are registered through `utoipa_axum::routes!`, so the OpenAPI spec is
//! generated from the same declarations that serve requests.
use crate::middleware::stack;
use crate::routes::{audit_events, auth, health, metrics, users};
use crate::{ApiError, AppState, openapi};
use axum::Router;
use axum::routing::get;
use tower::Layer as _;
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

/// The whole application: documented routes, probe aliases, docs UI, 404 fallback, and the
/// middleware stack around all of it.
pub fn build_router(state: AppState) -> Router {
    let (routes, spec) = documented_routes().split_for_parts();
    let router = routes
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .merge(SwaggerUi::new(DOCS_PATH).url(OPENAPI_PATH, spec))
        .fallback(|| async { ApiError::NotFound });
    stack::apply(router, &state).with_state(state)
}

/// The router as the service `axum::serve` runs: path normalisation wraps it from outside.
pub fn into_service(
    router: Router,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<MapRequestRouter, std::net::SocketAddr> {
    use axum::ServiceExt as _;
    let normalized = tower::util::MapRequestLayer::new(crate::middleware::normalize::trim_trailing_slash as fn(_) -> _)
        .layer(router);
    normalized.into_make_service_with_connect_info::<std::net::SocketAddr>()
}

/// The router behind path normalisation.
pub type MapRequestRouter = tower::util::MapRequest<Router, fn(axum::extract::Request) -> axum::extract::Request>;
