//! Login throttling (OWASP ASVS 2.2.1). Failures are budgeted per (account, IP), per IP, and per
//! account across all IPs, with the GCRA limiter: after the budget, attempts slow to one per
//! interval — a bounded block, not a lockout. Because the (account, IP) budget is the tight one and
//! the account-wide budget is much larger than one IP's, an attacker at one address cannot keep a
//! victim signing in from elsewhere locked out. A successful login clears the account's budgets.
use crate::AppState;
use freeagentics_shared_state::Quota;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// Failures allowed per account from one IP within `window`.
    pub account_ip_failures: u32,
    /// Failures allowed from one IP across all accounts within `window`.
    pub ip_failures: u32,
    /// Failures allowed per account across all IPs within `window`.
    pub account_failures: u32,
    pub window: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self { account_ip_failures: 5, ip_failures: 20, account_failures: 100, window: Duration::from_secs(15 * 60) }
    }
}

#[derive(Debug, Clone)]
pub struct LoginThrottle {
    keys: [(String, Quota); 3],
}

/// Whose budget a sign-in attempt spends: the account it names when there is one — so its
/// username and its email share one budget — else the identifier as typed (unknown accounts are
/// budgeted too, or they would be a free oracle for which ones exist).
#[derive(Debug, Clone, Copy)]
pub enum Account<'a> {
    Known(uuid::Uuid),
    Unknown(&'a str),
}

impl Account<'_> {
    fn key(self) -> String {
        match self {
            Account::Known(id) => format!("id:{id}"),
            Account::Unknown(typed) => format!("typed:{}", typed.trim().to_lowercase()),
        }
    }
}

impl LoginThrottle {
    pub fn new(settings: &ThrottleSettings, account: Account<'_>, ip: IpAddr) -> Self {
        let account = account.key();
        let ip = freeagentics_core::net::limit_key(ip);
        let quota = |n| Quota::per(n, settings.window);
        LoginThrottle {
            keys: [
                (format!("throttle:acct-ip:{account}:{ip}"), quota(settings.account_ip_failures)),
                (format!("throttle:ip:{ip}"), quota(settings.ip_failures)),
                (format!("throttle:acct:{account}"), quota(settings.account_failures)),
            ],
        }
    }

    /// Spends one attempt from every budget *before* the password is checked, so concurrent
    /// guesses are all counted. `Err(retry_after)` when a budget is exhausted: then no password
    /// may be checked. Failures need nothing more — the attempt is already spent.
    pub async fn attempt(&self, state: &AppState) -> Result<(), Duration> {
        let mut wait: Option<Duration> = None;
        for (key, quota) in &self.keys {
            let (decision, _) = state.limiter.hit(key, *quota).await;
            if !decision.allowed {
                wait = Some(wait.unwrap_or(Duration::ZERO).max(decision.retry_after));
            }
        }
        wait.map_or(Ok(()), Err)
    }

    /// A correct password: the account's budgets start over and the address gets its attempt back
    /// (a busy NAT of honest users must not exhaust its budget by signing in).
    pub async fn succeeded(&self, state: &AppState) {
        state.limiter.reset(&self.keys[0].0).await;
        state.limiter.refund(&self.keys[1].0, self.keys[1].1).await;
        state.limiter.reset(&self.keys[2].0).await;
    }
}
