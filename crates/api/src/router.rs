//! The route table: every route of the service with its policy, declared once, in [`declare`].
//! Documented routes are registered through `utoipa_axum::routes!` — one operation per entry — so
//! the OpenAPI document is generated from the same declarations that serve requests, and each
//! entry's [`Operation`] is what the middleware stack enforces (authentication, permission, rate
//! limit class, `If-Match`) and what completes the document's error responses (`openapi::complete`).
//! Adding a route family is one block here plus its handlers.
use crate::limits::LimitClass;
use crate::middleware::compression::CompressLayer;
use crate::middleware::normalize::trim_trailing_slash;
use crate::middleware::stack::StackLayer;
use crate::paths::{DOCS_PATH, METRICS_PATH, OPENAPI_PATH};
use crate::policy::{ContractLog, IfMatch, Operation, Preload, RouteTable};
use crate::routes::{
    agent_steps, agents, audit_events, auth, coalition_formation, coalition_members, coalition_objectives, coalitions,
    health, inference, metrics, users, ws,
};
use crate::{ApiError, AppState, openapi};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, patch, post};
use freeagentics_core::Permission::{AdminSystem, CreateAgent, CreateCoalition, ModifyAgent, ViewAgents};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::{Service, ServiceBuilder};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// Every route and its policy.
fn declare(routes: Routes) -> Routes {
    let admin = Operation::permitted(AdminSystem);
    routes
        // probes and scrapes
        .add(routes!(health::get_liveness), Operation::probe())
        .alias("/health/live", &[(Method::GET, Operation::probe())], get(health::get_liveness))
        .add(routes!(health::get_readiness), Operation::probe())
        .alias("/health/ready", &[(Method::GET, Operation::probe())], get(health::get_readiness))
        .add(routes!(metrics::get_metrics), Operation::probe())
        // accounts and sessions
        .add(routes!(auth::register_user), Operation::public().limited(LimitClass::Register))
        .add(routes!(auth::login_user), Operation::public().limited(LimitClass::Login))
        .add(routes!(auth::refresh_session), Operation::public().limited(LimitClass::Refresh))
        .add(routes!(auth::logout_user), Operation::signed_in())
        .add(routes!(auth::get_current_user), Operation::signed_in())
        .add(routes!(auth::change_password), Operation::signed_in())
        // administration
        .add(routes!(users::list_users), admin)
        .add(routes!(users::create_user), admin)
        .add(routes!(users::get_user), admin)
        .add(routes!(users::update_user), admin.if_match(IfMatch::Optional))
        .add(routes!(users::deactivate_user), admin)
        .add(routes!(audit_events::list_audit_events), admin)
        // agents: readable by every role with view_agents; changes by their owner (or an admin)
        .add(routes!(agents::create_agent), Operation::permitted(CreateAgent).idempotent().inference_body())
        .add(routes!(agents::list_agents), Operation::permitted(ViewAgents))
        .add(routes!(agents::get_agent), Operation::permitted(ViewAgents).preloading(Preload::AgentInPath))
        .add(
            routes!(agents::update_agent),
            Operation::permitted(ModifyAgent).if_match(IfMatch::Required).inference_body(),
        )
        .add(routes!(agents::set_agent_status), Operation::permitted(ModifyAgent))
        .add(routes!(agents::delete_agent), Operation::signed_in())
        .add(routes!(agent_steps::step_agent), Operation::permitted(ModifyAgent).idempotent())
        .add(routes!(agent_steps::get_agent_beliefs), Operation::permitted(ViewAgents))
        .add(routes!(agent_steps::list_agent_history), Operation::permitted(ViewAgents))
        .add(routes!(agent_steps::get_agent_metrics), Operation::permitted(ViewAgents))
        .add(routes!(inference::list_templates), Operation::permitted(ViewAgents))
        // coalitions: read like agents; changes by their owner (or an admin)
        .add(routes!(coalitions::create_coalition), Operation::permitted(CreateCoalition).idempotent())
        .add(routes!(coalitions::list_coalitions), Operation::permitted(ViewAgents))
        .add(routes!(coalitions::get_coalition), Operation::permitted(ViewAgents))
        .add(routes!(coalitions::update_coalition), Operation::permitted(CreateCoalition).if_match(IfMatch::Required))
        .add(routes!(coalitions::set_coalition_status), Operation::permitted(CreateCoalition))
        .add(routes!(coalitions::dissolve_coalition), Operation::permitted(CreateCoalition))
        .add(routes!(coalition_members::add_coalition_member), Operation::permitted(CreateCoalition))
        .add(routes!(coalition_members::update_coalition_member), Operation::permitted(CreateCoalition))
        // an agent's owner may take it out of someone else's coalition
        .add(routes!(coalition_members::remove_coalition_member), Operation::signed_in())
        .add(routes!(coalition_objectives::add_coalition_objective), Operation::permitted(CreateCoalition))
        .add(routes!(coalition_objectives::update_coalition_objective), Operation::permitted(CreateCoalition))
        .add(routes!(coalition_objectives::remove_coalition_objective), Operation::permitted(CreateCoalition))
        .add(routes!(coalition_formation::form_coalitions), Operation::permitted(CreateCoalition).idempotent())
        // inference without an agent: any signed-in user
        .add(routes!(inference::run_inference), Operation::signed_in().inference_body())
        .add(routes!(inference::validate_gmn), Operation::signed_in().inference_body())
        .add(routes!(inference::list_gmn_examples), Operation::signed_in())
        // real-time events: the handler authenticates (a bearer token or a ticket) before upgrading
        .add(routes!(ws::create_ws_ticket), Operation::signed_in().limited(LimitClass::WsConnect))
        .add(routes!(ws::connect_ws), Operation::public().limited(LimitClass::WsConnect))
}

/// The web frontend's development routes (docs/FRONTEND.md): only with `DEV_ENDPOINTS`, and not in
/// the OpenAPI document (their shapes are the frontend's, not our contract).
fn declare_frontend(routes: Routes) -> Routes {
    use crate::routes::frontend::{agents, dev_config, knowledge_graph, metrics, prompt, settings, socket};
    let signed_in = Operation::signed_in();
    routes
        // called without a token — 9 to 13 sign-ins on every page load, the footer every 5 s — by a
        // frontend on the developer's machine: no rate limit to run out of while reloading
        .alias("/api/v1/dev-config", &[(Method::GET, Operation::public().unlimited())], get(dev_config::get_dev_config))
        .alias("/api/v1/metrics", &[(Method::GET, Operation::public().unlimited())], get(metrics::get_footer_metrics))
        .alias(
            "/api/agents",
            &[(Method::GET, Operation::permitted(ViewAgents)), (Method::POST, Operation::permitted(CreateAgent))],
            get(agents::list_agents).post(agents::create_agent),
        )
        .alias(
            "/api/agents/{id}",
            // delete: the owner or `delete_agent`, decided by the handler as on /api/v1/agents
            &[(Method::PATCH, Operation::permitted(ModifyAgent)), (Method::DELETE, signed_in)],
            patch(agents::rename_agent).delete(agents::delete_agent),
        )
        .alias(
            "/api/v1/settings",
            &[(Method::GET, signed_in), (Method::PATCH, signed_in), (Method::PUT, signed_in)],
            get(settings::get_settings).patch(settings::patch_settings).put(settings::put_settings),
        )
        .alias("/api/v1/settings/api-keys", &[(Method::DELETE, signed_in)], delete(settings::delete_api_keys))
        .alias(
            "/api/v1/knowledge-graph",
            &[(Method::GET, Operation::permitted(ViewAgents))],
            get(knowledge_graph::get_knowledge_graph),
        )
        .alias(
            "/api/process-prompt",
            &[(Method::POST, Operation::permitted(CreateAgent))],
            post(prompt::process_prompt),
        )
        // no token: the socket is the development account's (`WS_DEV_MAX_CONNECTIONS`)
        .alias(
            "/api/v1/ws/dev",
            &[(Method::GET, Operation::public().limited(LimitClass::WsConnect))],
            get(socket::connect_dev_socket),
        )
}

/// The routes the Swagger UI router registers (`SwaggerUi` adds them itself), with their policies.
const DOCS_UI_ROUTES: [(&str, Operation); 4] = [
    (OPENAPI_PATH, Operation::public()),
    (DOCS_PATH, Operation::docs()),
    ("/api/docs/", Operation::docs()),
    ("/api/docs/{*rest}", Operation::docs()),
];

/// Collects routes and their policies while the route table is declared.
struct Routes {
    router: OpenApiRouter<AppState>,
    table: RouteTable,
    problems: Vec<String>,
}

impl Routes {
    /// A documented operation: `route` is `routes!(handler)` for exactly one handler.
    fn add(mut self, route: UtoipaMethodRouter<AppState>, operation: Operation) -> Self {
        for (template, item) in &route.1.paths {
            for method in openapi::methods(item) {
                self.record(template, method, operation);
            }
        }
        self.router = self.router.routes(route);
        self
    }

    /// An undocumented route (a probe alias, a development route) with the policy of each method.
    fn alias(mut self, path: &str, operations: &[(Method, Operation)], route: MethodRouter<AppState>) -> Self {
        for (method, operation) in operations {
            self.record(path, method.clone(), *operation);
        }
        self.router = self.router.route(path, route);
        self
    }

    fn record(&mut self, template: &str, method: Method, operation: Operation) {
        if let Err(problem) = self.table.insert(template, method, operation) {
            self.problems.push(problem);
        }
    }

    /// The router, the finished OpenAPI document and the table with each operation's documented
    /// statuses. A route declared twice, or with mixed kinds, is a programming error found by any
    /// test that starts the service: it stops start-up.
    fn finish(self) -> (Router<AppState>, utoipa::openapi::OpenApi, RouteTable) {
        let Routes { router, mut table, mut problems } = self;
        for (path, operation) in DOCS_UI_ROUTES {
            if let Err(problem) = table.insert(path, Method::GET, operation) {
                problems.push(problem);
            }
        }
        assert!(problems.is_empty(), "invalid route table: {}", problems.join("; "));
        let (router, mut spec) = router.split_for_parts();
        openapi::complete(&mut spec, &mut table);
        (router, spec, table)
    }
}

/// The routes; the frontend's development routes too when `frontend` is set.
fn assemble(contract: Arc<ContractLog>, frontend: bool) -> (Router<AppState>, utoipa::openapi::OpenApi, RouteTable) {
    let routes = Routes {
        router: OpenApiRouter::with_openapi(openapi::base()),
        table: RouteTable::new(contract),
        problems: Vec::new(),
    };
    let routes = declare(routes);
    let routes = if frontend { declare_frontend(routes) } else { routes };
    routes.finish()
}

/// The complete OpenAPI document, as served and committed (the development routes are not in it).
pub fn spec() -> utoipa::openapi::OpenApi {
    assemble(Arc::default(), false).1
}

/// Every operation and its policy, development routes included (`tests/api/authz.rs` checks its
/// matrix against it).
pub fn table() -> RouteTable {
    assemble(Arc::default(), true).2
}

/// The whole application: the declared routes, the docs UI, the 404 fallback, and the middleware
/// stack (`middleware::stack`) around each of them — inside the router, so the stack knows the
/// matched route template and, through it, the route's policy.
pub fn build_router(state: AppState) -> Router {
    let (routes, spec, table) = assemble(state.contract.clone(), state.frontend.is_some());
    routes
        .merge(SwaggerUi::new(DOCS_PATH).url(OPENAPI_PATH, spec))
        .fallback(|| async { ApiError::NotFound })
        .layer(StackLayer::new(state.clone(), table))
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
    let mut table = RouteTable::new(state.contract.clone());
    if let Err(problem) = table.insert(METRICS_PATH, Method::GET, Operation::probe()) {
        unreachable!("a table with one route: {problem}");
    }
    Router::new()
        .route(METRICS_PATH, get(|State(state): State<AppState>| async move { metrics::scrape(&state) }))
        .fallback(|| async { ApiError::NotFound })
        .layer(StackLayer::new(state.clone(), table))
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
