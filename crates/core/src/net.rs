//! Trusted proxies and client addresses (ASVS 4.1.3: believe `X-Forwarded-For` only from our own hops).
use ipnet::IpNet;
use std::net::IpAddr;

/// An address or CIDR block whose `X-Forwarded-For` we believe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(IpNet);

impl TrustedProxy {
    /// `10.0.0.0/8`, `192.168.1.10`, `::1`, `fd00::/8`. A bare address is a block of one.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.contains('/') {
            raw.parse::<IpNet>().map(TrustedProxy).map_err(|_| format!("`{raw}` is not a valid CIDR block"))
        } else {
            let address: IpAddr = raw.parse().map_err(|_| format!("`{raw}` is not an IP address or CIDR block"))?;
            Ok(TrustedProxy(IpNet::from(address)))
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical(ip))
    }
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`, what dual-stack sockets report) compares as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address: the socket peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Left-most entries are
/// whatever the client wrote and are never believed.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[TrustedProxy]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|p| p.contains(ip));
    let peer = canonical(peer);
    if !is_trusted(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else { return peer };
    let mut client = peer;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !is_trusted(client) {
                    return client;
                }
            }
            // garbage in the chain: stop at the last address we could trust
            Err(_) => return client,
        }
    }
    client
}

/// The key under which an address is rate limited and throttled. One IPv6 subscriber usually holds
/// a whole /64, so IPv6 addresses are keyed by their /64 prefix; IPv4 by the address.
pub fn limit_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_membership() {
        let net = TrustedProxy::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.0.0.1")));
        assert!(TrustedProxy::parse("::1").unwrap().contains(ip("::1")));
        assert!(TrustedProxy::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(TrustedProxy::parse("10.0.0.0/40").is_err());
        assert!(TrustedProxy::parse("nope").is_err());
    }

    #[test]
    fn ipv6_is_limited_per_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), limit_key(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:3::1")));
        assert_eq!(limit_key(ip("::ffff:10.0.0.1")), "10.0.0.1");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        let trusted = [TrustedProxy::parse("10.0.0.0/8").unwrap()];
        // untrusted peer: header ignored entirely
        assert_eq!(client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &trusted), ip("203.0.113.9"));
        // trusted peer: right-most untrusted hop, not the spoofable left-most one
        assert_eq!(client_ip(ip("10.0.0.2"), Some("6.6.6.6, 198.51.100.7, 10.0.0.5"), &trusted), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), Some("garbage"), &trusted), ip("10.0.0.2"));
    }
}
