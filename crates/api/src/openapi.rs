//! The OpenAPI 3.1 document. Paths come from the handlers' `#[utoipa::path]` attributes (their
//! success bodies and the errors only they can answer); [`complete`] then adds, from each
//! operation's policy in the route table, every error the service around the handler can answer —
//! authentication, permission, rate limits, body and parameter validation, preconditions,
//! maintenance and timeouts — all as `application/problem+json`. `docs/openapi.json` is the
//! committed copy, compared with the generated one in a test (`UPDATE_OPENAPI=1 cargo test
//! openapi` rewrites it).
use crate::error::{FieldErrorBody, PROBLEM_CONTENT_TYPE, Problem};
use crate::policy::{Access, IfMatch, Operation as Policy, RouteTable, StatusSet};
use axum::http::{Method, StatusCode};
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn, PathItem};
use utoipa::openapi::response::Response;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, HeaderBuilder, Ref, RefOr, Required};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "FreeAgentics API",
        description = "Multi-agent active-inference platform. Errors are RFC 7807 `application/problem+json`.",
        license(name = "MIT")
    ),
    components(schemas(Problem, FieldErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Probes and metrics"),
        (name = "auth", description = "Accounts and sessions"),
        (name = "users", description = "Account administration (admin_system)"),
        (name = "agents", description = "Active-inference agents: lifecycle, stepping, beliefs, history"),
        (name = "coalitions", description = "Coalitions of agents: membership, objectives, status, formation"),
        (name = "inference", description = "Stateless inference and GMN models"),
        (name = "realtime", description = "Live events over WebSockets (docs/REALTIME.md)"),
    )
)]
struct ApiDoc;

/// Declares the `bearer` scheme protected operations refer to.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

pub(crate) fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Pretty JSON with a trailing newline, exactly as committed.
pub fn spec_json() -> String {
    let mut json = crate::router::spec().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

/// The methods a path item has operations for.
pub(crate) fn methods(item: &PathItem) -> Vec<Method> {
    operations_mut(&mut item.clone()).into_iter().map(|(method, _)| method).collect()
}

fn operations_mut(item: &mut PathItem) -> Vec<(Method, &mut Operation)> {
    [
        (Method::GET, item.get.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
        (Method::OPTIONS, item.options.as_mut()),
        (Method::HEAD, item.head.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
        (Method::TRACE, item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|op| (method, op)))
    .collect()
}

/// Adds the responses each operation's policy implies, renders every error as problem+json, and
/// records in `table` the statuses each operation now documents (the stack checks answers
/// against them).
pub(crate) fn complete(spec: &mut utoipa::openapi::OpenApi, table: &mut RouteTable) {
    for (template, item) in spec.paths.paths.iter_mut() {
        for (method, operation) in operations_mut(item) {
            let Some((policy, _)) = table.route(Some(template)).operation(&method).map(|(p, s)| (*p, s)) else {
                continue;
            };
            complete_operation(operation, &method, &policy);
            let mut statuses = StatusSet::default();
            for status in operation.responses.responses.keys() {
                if let Ok(status) = status.parse::<u16>() {
                    statuses.insert(status);
                }
            }
            table.document(template, &method, statuses);
        }
    }
}

fn complete_operation(operation: &mut Operation, method: &Method, policy: &Policy) {
    let parameters: Vec<&Parameter> = operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|p| match p {
            RefOr::T(p) => Some(p),
            RefOr::Ref(_) => None,
        })
        .collect();
    let has_path = parameters.iter().any(|p| p.parameter_in == ParameterIn::Path);
    let has_query = parameters.iter().any(|p| p.parameter_in == ParameterIn::Query);
    let has_body = operation.request_body.is_some();

    let mut implied: Vec<(u16, &str)> = vec![
        (500, "Unexpected error; the problem's `instance` is the request id to quote"),
        (503, "Maintenance, a dependency down, or the request outlived its deadline; see `Retry-After`"),
    ];
    if policy.access != Access::Public {
        implied.push((401, "Missing, invalid, expired or revoked access token"));
    }
    if let Access::Permission(permission) = policy.access {
        implied.push((403, permission_text(permission)));
    }
    if policy.limit_class(method).is_some() {
        implied.push((429, "Rate limit exceeded; see `Retry-After` and `RateLimit-*`"));
    }
    if has_body {
        implied.push((400, "Malformed JSON or an unreadable body"));
        implied.push((413, "Request body over the size limit"));
        implied.push((415, "Body is not `application/json`"));
        implied.push((422, "Invalid fields; see `errors`"));
    }
    if has_query || has_path {
        implied.push((422, "Invalid parameters; see `errors`"));
    }
    if has_path {
        implied.push((404, "No such resource (or not visible to you)"));
    }
    match policy.if_match {
        IfMatch::Ignored => {}
        IfMatch::Optional => implied.push((412, "`If-Match` does not match the current `ETag`")),
        IfMatch::Required => {
            implied.push((412, "`If-Match` does not match the current `ETag`"));
            implied.push((428, "`If-Match` is required for this operation"));
        }
    }
    if policy.if_match != IfMatch::Ignored {
        add_header_parameter(
            operation,
            "If-Match",
            policy.if_match == IfMatch::Required,
            "The `ETag` of the version you read (strong comparison)",
            None,
        );
    }
    if policy.idempotent {
        implied.push((422, "Invalid fields, or an `Idempotency-Key` reused with a different request"));
        add_header_parameter(
            operation,
            "Idempotency-Key",
            false,
            "Makes a retry safe: the first request with a key runs, a repeat within 24 h gets its answer \
             again (with `Idempotent-Replayed: true`) and never runs twice",
            Some(crate::idempotency::MAX_KEY_CHARS),
        );
    }
    if policy.access != Access::Public && operation.security.is_none() {
        operation.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
    }

    let responses = &mut operation.responses.responses;
    for (status, description) in implied {
        responses.entry(status.to_string()).or_insert_with(|| RefOr::T(Response::new(description)));
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else { continue };
        let Ok(code) = status.parse::<u16>() else { continue };
        if response.description.is_empty() {
            response.description =
                StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("Response").to_owned();
        }
        if code >= 400 {
            response.content.clear();
            let problem = Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem"))));
            response.content.insert(PROBLEM_CONTENT_TYPE.to_owned(), RefOr::T(problem));
            add_error_headers(response, code);
        }
    }
}

fn permission_text(permission: freeagentics_core::Permission) -> &'static str {
    use freeagentics_core::Permission::*;
    match permission {
        CreateAgent => "The role lacks `create_agent`",
        DeleteAgent => "The role lacks `delete_agent`",
        ViewAgents => "The role lacks `view_agents`",
        ModifyAgent => "The role lacks `modify_agent`",
        CreateCoalition => "The role lacks `create_coalition`",
        ViewMetrics => "The role lacks `view_metrics`",
        AdminSystem => "The role lacks `admin_system`",
    }
}

fn add_error_headers(response: &mut Response, status: u16) {
    let integer = || utoipa::openapi::schema::Object::with_type(utoipa::openapi::schema::Type::Integer);
    let string = || utoipa::openapi::schema::Object::with_type(utoipa::openapi::schema::Type::String);
    let header = |description: &str, schema: utoipa::openapi::schema::Object| {
        RefOr::T(HeaderBuilder::new().schema(Some(schema)).description(Some(description)).build())
    };
    match status {
        401 => {
            response
                .headers
                .entry("WWW-Authenticate".to_owned())
                .or_insert_with(|| header("Always `Bearer`", string()));
        }
        429 => {
            for (name, text) in [
                ("Retry-After", "Seconds until a retry can succeed"),
                ("RateLimit-Limit", "Requests allowed per period"),
                ("RateLimit-Remaining", "Requests left in the period"),
                ("RateLimit-Reset", "Seconds until the budget is full again"),
            ] {
                response.headers.entry(name.to_owned()).or_insert_with(|| header(text, integer()));
            }
        }
        503 => {
            response.headers.entry("Retry-After".to_owned()).or_insert_with(|| header("Seconds to wait", integer()));
        }
        _ => {}
    }
}

fn add_header_parameter(
    operation: &mut Operation,
    name: &str,
    required: bool,
    description: &str,
    max_length: Option<usize>,
) {
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    let present = parameters.iter().any(|p| matches!(p, RefOr::T(p) if p.name.eq_ignore_ascii_case(name)));
    if present {
        return;
    }
    let mut schema = utoipa::openapi::schema::Object::with_type(utoipa::openapi::schema::Type::String);
    if let Some(max) = max_length {
        schema.min_length = Some(1);
        schema.max_length = Some(max);
    }
    let mut parameter = Parameter::new(name);
    parameter.parameter_in = ParameterIn::Header;
    parameter.required = if required { Required::True } else { Required::False };
    parameter.description = Some(description.to_owned());
    parameter.schema = Some(RefOr::T(utoipa::openapi::schema::Schema::Object(schema)));
    parameters.push(RefOr::T(parameter));
}
