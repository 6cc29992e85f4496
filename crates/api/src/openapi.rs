//! The OpenAPI 3.1 document. Paths come from the handlers' `#[utoipa::path]` attributes; this file
//! holds the document-level parts. `docs/openapi.json` is the committed copy, compared with this in
//! a test (`UPDATE_OPENAPI=1 cargo test openapi` rewrites it).
use crate::error::{FieldErrorBody, Problem};
use utoipa::OpenApi;

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
    )
)]
struct ApiDoc;

/// Declares the `bearer` scheme the handlers' `security(("bearer" = []))` refer to.
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

/// The complete generated document.
pub fn spec() -> utoipa::openapi::OpenApi {
    crate::router::documented_routes().split_for_parts().1
}

/// Pretty JSON with a trailing newline, exactly as committed.
pub fn spec_json() -> String {
    let mut json = spec().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
