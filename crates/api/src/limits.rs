//! Rate-limit classes and their budgets. Which class a route belongs to is declared with the route
//! (`router.rs`); the budgets come from configuration.
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitClass {
    Login,
    Register,
    Refresh,
    Writes,
    Reads,
    /// Opening WebSockets (tickets and upgrades).
    WsConnect,
}

impl LimitClass {
    pub const ALL: [LimitClass; 6] = [
        LimitClass::Login,
        LimitClass::Register,
        LimitClass::Refresh,
        LimitClass::Writes,
        LimitClass::Reads,
        LimitClass::WsConnect,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LimitClass::Login => "login",
            LimitClass::Register => "register",
            LimitClass::Refresh => "refresh",
            LimitClass::Writes => "writes",
            LimitClass::Reads => "reads",
            LimitClass::WsConnect => "ws_connect",
        }
    }

    /// The class of a request no route declares one for: reads for safe methods, else writes.
    pub fn by_method(method: &axum::http::Method) -> LimitClass {
        use axum::http::Method;
        match *method {
            Method::GET | Method::HEAD | Method::OPTIONS => LimitClass::Reads,
            _ => LimitClass::Writes,
        }
    }
}

/// Requests per period for anonymous callers (by IP) and signed-in users (by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassLimit {
    pub anonymous: u32,
    pub authenticated: u32,
    pub period: Duration,
}

impl ClassLimit {
    const fn new(anonymous: u32, authenticated: u32, seconds: u64) -> Self {
        ClassLimit { anonymous, authenticated, period: Duration::from_secs(seconds) }
    }

    /// `ANON,AUTH/SECONDS`, e.g. `5,10/60`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let invalid = || format!("`{spec}` is not ANONYMOUS,AUTHENTICATED/SECONDS (e.g. 5,10/60)");
        let (counts, seconds) = spec.trim().split_once('/').ok_or_else(invalid)?;
        let (anonymous, authenticated) = counts.split_once(',').ok_or_else(invalid)?;
        // bounded so the GCRA interval (period / count) stays at least a millisecond
        let parse = |v: &str| v.trim().parse::<u32>().ok().filter(|n| (1..=100_000).contains(n)).ok_or_else(invalid);
        let seconds = seconds.trim().parse::<u64>().ok().filter(|s| (1..=86_400).contains(s)).ok_or_else(invalid)?;
        Ok(ClassLimit::new(parse(anonymous)?, parse(authenticated)?, seconds))
    }
}

/// Defaults from the original service's table (reference/original-backend.md).
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub enabled: bool,
    pub login: ClassLimit,
    pub register: ClassLimit,
    pub refresh: ClassLimit,
    pub writes: ClassLimit,
    pub reads: ClassLimit,
    pub ws_connect: ClassLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: true,
            login: ClassLimit::new(5, 10, 60),
            register: ClassLimit::new(3, 5, 300),
            refresh: ClassLimit::new(10, 30, 60),
            writes: ClassLimit::new(20, 100, 60),
            reads: ClassLimit::new(60, 300, 60),
            ws_connect: ClassLimit::new(50, 200, 60),
        }
    }
}

impl RateLimits {
    pub fn get(&self, class: LimitClass) -> ClassLimit {
        match class {
            LimitClass::Login => self.login,
            LimitClass::Register => self.register,
            LimitClass::Refresh => self.refresh,
            LimitClass::Writes => self.writes,
            LimitClass::Reads => self.reads,
            LimitClass::WsConnect => self.ws_connect,
        }
    }

    pub fn get_mut(&mut self, class: LimitClass) -> &mut ClassLimit {
        match class {
            LimitClass::Login => &mut self.login,
            LimitClass::Register => &mut self.register,
            LimitClass::Refresh => &mut self.refresh,
            LimitClass::Writes => &mut self.writes,
            LimitClass::Reads => &mut self.reads,
            LimitClass::WsConnect => &mut self.ws_connect,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn limit_specs_parse() {
        assert_eq!(ClassLimit::parse("5,10/60"), Ok(ClassLimit::new(5, 10, 60)));
        assert!(ClassLimit::parse("5/60").is_err());
        assert!(ClassLimit::parse("0,1/60").is_err());
        assert!(ClassLimit::parse("a,b/c").is_err());
        assert!(ClassLimit::parse("5,10/0").is_err());
        assert!(ClassLimit::parse("5,10/999999").is_err());
    }

    #[test]
    fn undeclared_classes_follow_the_method() {
        assert_eq!(LimitClass::by_method(&Method::GET), LimitClass::Reads);
        assert_eq!(LimitClass::by_method(&Method::HEAD), LimitClass::Reads);
        assert_eq!(LimitClass::by_method(&Method::PATCH), LimitClass::Writes);
        assert_eq!(LimitClass::by_method(&Method::DELETE), LimitClass::Writes);
    }
}
