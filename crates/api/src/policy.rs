//! Route policies: what each operation requires and how the stack treats its path. They are
//! declared once, where the route is registered (`router.rs`); the middleware stack reads them on
//! every request and the OpenAPI document is completed from them, so the documented contract and
//! the behaviour cannot drift apart. A leaf module: it knows nothing of the router or middleware.
use crate::limits::LimitClass;
use axum::http::Method;
use freeagentics_core::Permission;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Route label of requests no route matched, so 404 scans cannot create new metric series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Who may call an operation. The stack enforces it before the handler runs: 401 (with
/// `WWW-Authenticate: Bearer`) without a valid session, 403 without the permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    SignedIn,
    Permission(Permission),
}

/// Whether an operation honours `If-Match` (412 on a stale one) or demands it (428 without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    Ignored,
    Optional,
    Required,
}

/// How the stack treats a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// Resources under `/api`: rate limited, `Cache-Control: no-store`, closed during maintenance.
    Api,
    /// Probes and scrapes: never rate limited, open during maintenance (Kubernetes would restart
    /// pods otherwise), logged at debug (they arrive every few seconds per replica).
    Probe,
    /// The docs UI: a CSP that lets its own assets load.
    Docs,
}

/// The rate-limit class of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Reads for safe methods, writes for the others.
    ByMethod,
    Class(LimitClass),
    Unlimited,
}

/// Which body-size limit applies: `MAX_BODY_BYTES`, or the inference routes' own
/// (`INFERENCE_MAX_BODY_BYTES`: models are large JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    Standard,
    Inference,
}

/// What admission reads together with the caller's account when that read goes to the database
/// (the caches bypassed): the handler's own read then costs no second query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preload {
    Nothing,
    /// The agent named by the path's last segment (`agents::PreloadedAgent`).
    AgentInPath,
}

/// One operation's policy (a method on a path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub kind: RouteKind,
    pub access: Access,
    pub limit: Limit,
    pub if_match: IfMatch,
    /// Honours `Idempotency-Key` (the handler runs through `idempotency::once`).
    pub idempotent: bool,
    pub body: BodyLimit,
    pub preload: Preload,
}

impl Operation {
    const fn api(access: Access) -> Self {
        Operation {
            kind: RouteKind::Api,
            access,
            limit: Limit::ByMethod,
            if_match: IfMatch::Ignored,
            idempotent: false,
            body: BodyLimit::Standard,
            preload: Preload::Nothing,
        }
    }

    pub const fn public() -> Self {
        Self::api(Access::Public)
    }

    pub const fn signed_in() -> Self {
        Self::api(Access::SignedIn)
    }

    pub const fn permitted(permission: Permission) -> Self {
        Self::api(Access::Permission(permission))
    }

    pub const fn probe() -> Self {
        Operation { kind: RouteKind::Probe, limit: Limit::Unlimited, ..Self::public() }
    }

    pub const fn docs() -> Self {
        Operation { kind: RouteKind::Docs, ..Self::public() }
    }

    pub const fn limited(self, class: LimitClass) -> Self {
        Operation { limit: Limit::Class(class), ..self }
    }

    /// Outside every rate-limit class.
    pub const fn unlimited(self) -> Self {
        Operation { limit: Limit::Unlimited, ..self }
    }

    pub const fn if_match(self, if_match: IfMatch) -> Self {
        Operation { if_match, ..self }
    }

    pub const fn idempotent(self) -> Self {
        Operation { idempotent: true, ..self }
    }

    pub const fn inference_body(self) -> Self {
        Operation { body: BodyLimit::Inference, ..self }
    }

    pub const fn preloading(self, preload: Preload) -> Self {
        Operation { preload, ..self }
    }

    pub fn limit_class(&self, method: &Method) -> Option<LimitClass> {
        match self.limit {
            Limit::ByMethod => Some(LimitClass::by_method(method)),
            Limit::Class(class) => Some(class),
            Limit::Unlimited => None,
        }
    }
}

/// HTTP statuses an operation may answer, as a bit set over the statuses this service uses (a
/// copy is cheap enough to carry with every request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusSet(u64);

const KNOWN_STATUSES: [u16; 32] = [
    101, 200, 201, 202, 204, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 406, 408, 409, 410, 412, 413, 415,
    422, 428, 429, 431, 500, 501, 502, 503, 504,
];

impl StatusSet {
    fn bit(status: u16) -> Option<u64> {
        KNOWN_STATUSES.iter().position(|s| *s == status).map(|i| 1 << i)
    }

    /// Adds `status`; `false` when it is not one this set can hold (then it is never "documented").
    pub fn insert(&mut self, status: u16) -> bool {
        Self::bit(status).map(|bit| self.0 |= bit).is_some()
    }

    pub fn contains(self, status: u16) -> bool {
        Self::bit(status).is_some_and(|bit| self.0 & bit != 0)
    }

    pub fn iter(self) -> impl Iterator<Item = u16> {
        KNOWN_STATUSES.into_iter().enumerate().filter(move |(i, _)| self.0 & (1 << i) != 0).map(|(_, s)| s)
    }
}

/// A response whose status its operation does not document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// Where an application's undocumented answers are kept (besides the log line and the
/// `freeagentics_undocumented_responses_total` counter), so a test can fail on them.
#[derive(Debug, Default)]
pub struct ContractLog {
    violations: Mutex<Vec<Violation>>,
}

/// Enough to diagnose; a flood of violations must not grow memory.
const MAX_KEPT_VIOLATIONS: usize = 100;

impl ContractLog {
    pub fn violations(&self) -> Vec<Violation> {
        self.violations.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn record(&self, violation: Violation) {
        metrics::counter!(
            "freeagentics_undocumented_responses_total",
            "method" => violation.method.clone(),
            "route" => violation.route.clone(),
            "status" => violation.status.to_string(),
        )
        .increment(1);
        tracing::error!(
            method = %violation.method, route = %violation.route, status = violation.status,
            "response status is not documented for this operation"
        );
        let mut kept = self.violations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() < MAX_KEPT_VIOLATIONS {
            kept.push(violation);
        }
    }
}

/// One path template and its operations.
#[derive(Debug)]
pub struct Route {
    template: Box<str>,
    kind: RouteKind,
    /// With the statuses the OpenAPI document lists; `None` for undocumented routes (probe aliases,
    /// the docs UI), which have no contract to check.
    operations: Vec<(Method, Operation, Option<StatusSet>)>,
    contract: Arc<ContractLog>,
}

impl Route {
    pub fn template(&self) -> &str {
        &self.template
    }

    pub fn kind(&self) -> RouteKind {
        self.kind
    }

    /// The operation for `method`, with its documented statuses (`None`: not in the document).
    pub fn operation(&self, method: &Method) -> Option<(&Operation, Option<StatusSet>)> {
        self.operations.iter().find(|(m, _, _)| m == method).map(|(_, op, statuses)| (op, *statuses))
    }

    /// The class a request is limited under; `None` for probes and unlimited operations.
    pub fn limit_class(&self, method: &Method) -> Option<LimitClass> {
        match self.operation(method) {
            Some((op, _)) => op.limit_class(method),
            None if self.kind == RouteKind::Probe => None,
            // methods a path does not serve (405) and unmatched paths (404): scans cost budget too
            None => Some(LimitClass::by_method(method)),
        }
    }

    /// Records `status` if the operation of `method` does not document it. Methods without an
    /// operation (405s, CORS preflights) have no contract to break.
    pub fn check(&self, method: &Method, status: u16) {
        if let Some((_, Some(statuses))) = self.operation(method)
            && !statuses.contains(status)
        {
            self.contract.record(Violation { method: method.to_string(), route: self.template.to_string(), status });
        }
    }
}

/// Every route of one application, by path template, plus the policy of requests no route matched.
#[derive(Debug)]
pub struct RouteTable {
    routes: HashMap<Box<str>, Arc<Route>, foldhash::fast::FixedState>,
    unmatched: Arc<Route>,
    contract: Arc<ContractLog>,
}

impl RouteTable {
    pub fn new(contract: Arc<ContractLog>) -> Self {
        let unmatched = Arc::new(Route {
            template: UNMATCHED_ROUTE.into(),
            kind: RouteKind::Api,
            operations: Vec::new(),
            contract: contract.clone(),
        });
        RouteTable { routes: HashMap::default(), unmatched, contract }
    }

    /// Adds an operation. One path has one kind: a probe path cannot also serve an API operation.
    pub fn insert(&mut self, template: &str, method: Method, operation: Operation) -> Result<(), String> {
        let route = self.routes.entry(template.into()).or_insert_with(|| {
            Arc::new(Route {
                template: template.into(),
                kind: operation.kind,
                operations: Vec::new(),
                contract: self.contract.clone(),
            })
        });
        let route = Arc::get_mut(route).ok_or_else(|| format!("{template}: the table is already in use"))?;
        if route.kind != operation.kind {
            return Err(format!("{template}: mixes {:?} and {:?} operations", route.kind, operation.kind));
        }
        if route.operations.iter().any(|(m, _, _)| *m == method) {
            return Err(format!("{method} {template} is registered twice"));
        }
        route.operations.push((method, operation, None));
        Ok(())
    }

    /// Sets the documented statuses of an operation (from the finished OpenAPI document).
    pub fn document(&mut self, template: &str, method: &Method, statuses: StatusSet) {
        if let Some(route) = self.routes.get_mut(template).and_then(Arc::get_mut)
            && let Some(entry) = route.operations.iter_mut().find(|(m, _, _)| m == method)
        {
            entry.2 = Some(statuses);
        }
    }

    /// The route of a matched template, or the unmatched policy.
    pub fn route(&self, template: Option<&str>) -> &Arc<Route> {
        template.and_then(|t| self.routes.get(t)).unwrap_or(&self.unmatched)
    }

    /// Every (template, method, operation), for documentation and tests.
    pub fn operations(&self) -> impl Iterator<Item = (&str, &Method, &Operation)> {
        self.routes.values().flat_map(|route| route.operations.iter().map(move |(m, op, _)| (&*route.template, m, op)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets_hold_known_statuses_only() {
        let mut set = StatusSet::default();
        assert!(set.insert(200) && set.insert(429) && set.insert(503));
        assert!(!set.insert(418), "an unknown status can never be documented");
        assert!(set.contains(429) && !set.contains(404) && !set.contains(418));
        assert_eq!(set.iter().collect::<Vec<_>>(), [200, 429, 503]);
    }

    #[test]
    fn an_undocumented_status_is_recorded_and_a_documented_one_is_not() {
        let contract = Arc::new(ContractLog::default());
        let mut table = RouteTable::new(contract.clone());
        table.insert("/api/v1/things", Method::GET, Operation::signed_in()).unwrap();
        let mut documented = StatusSet::default();
        documented.insert(200);
        documented.insert(401);
        table.document("/api/v1/things", &Method::GET, documented);
        let route = table.route(Some("/api/v1/things"));
        route.check(&Method::GET, 200);
        route.check(&Method::GET, 401);
        assert!(contract.violations().is_empty());
        route.check(&Method::GET, 409);
        route.check(&Method::DELETE, 405);
        assert_eq!(
            contract.violations(),
            [Violation { method: "GET".to_owned(), route: "/api/v1/things".to_owned(), status: 409 }]
        );
    }

    #[test]
    fn limits_follow_the_operation_then_the_kind() {
        let mut table = RouteTable::new(Arc::default());
        table.insert("/health", Method::GET, Operation::probe()).unwrap();
        table.insert("/login", Method::POST, Operation::public().limited(LimitClass::Login)).unwrap();
        table.insert("/things", Method::GET, Operation::signed_in()).unwrap();
        assert_eq!(table.route(Some("/health")).limit_class(&Method::GET), None);
        assert_eq!(table.route(Some("/health")).limit_class(&Method::POST), None);
        assert_eq!(table.route(Some("/login")).limit_class(&Method::POST), Some(LimitClass::Login));
        assert_eq!(table.route(Some("/login")).limit_class(&Method::GET), Some(LimitClass::Reads));
        assert_eq!(table.route(Some("/things")).limit_class(&Method::GET), Some(LimitClass::Reads));
        assert_eq!(table.route(None).limit_class(&Method::PUT), Some(LimitClass::Writes));
        assert!(table.insert("/health", Method::POST, Operation::public()).is_err(), "one kind per path");
        assert!(table.insert("/things", Method::GET, Operation::public()).is_err(), "one policy per operation");
    }
}
