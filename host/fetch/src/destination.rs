//! Where the host may connect for a buildpack's download. A buildpack names URLs, so it could
//! point the host at services of the build machine or its network (SSRF). By default the host
//! refuses loopback, link-local, private, unique-local and other non-public addresses: in
//! URLs, in what names resolve to (checked after resolution, so DNS cannot smuggle them in),
//! and in redirects. `--network-allow HOST` lets the user allow a host, private or not.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 10;

/// Whether `ip` is not a public internet address (loopback, private, link-local, unique-local,
/// shared/CGNAT, unspecified, multicast, broadcast, documentation, IPv4-mapped forms of these).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || a >= 240
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || ip
            .to_ipv4()
            .is_some_and(|v4| ip.segments()[..6] == [0; 6] && is_internal_v4(v4))
}

/// The hosts the user allowed (`--network-allow`, without ports) and the proxies from the
/// environment, which may be internal.
#[derive(Debug, Clone, Default)]
pub struct Trusted {
    hosts: Vec<String>,
}

impl Trusted {
    /// Trust the hosts of `allowed` (`host` or `host:port` entries) and of the proxy
    /// variables in the environment.
    pub fn new(allowed: &[String]) -> Self {
        let mut hosts: Vec<String> = allowed.iter().map(|a| host_part(a)).collect();
        for var in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            if let Some(url) = std::env::var_os(var).and_then(|v| v.into_string().ok())
                && let Ok(parsed) = reqwest::Url::parse(&url)
                && let Some(h) = parsed.host_str()
            {
                hosts.push(h.to_ascii_lowercase());
            }
        }
        Self { hosts }
    }

    /// Whether the user (or the proxy settings) named `host`.
    pub fn contains(&self, host: &str) -> bool {
        let host = host_part(host);
        self.hosts.contains(&host)
    }

    /// Refuse `host` (a name or an IP literal, `[v6]` allowed) when it is an internal address
    /// the user did not allow.
    fn check_literal(&self, host: &str) -> Result<(), String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) if is_internal(ip) && !self.contains(host) => Err(refusal(host)),
            _ => Ok(()),
        }
    }
}

/// Refuse `url` when its host, as the HTTP client will read it, is an internal address the
/// user did not allow. The URL parser's reading counts: `http://2130706433/`, `127.1` and
/// `0x7f.0.0.1` are all 127.0.0.1.
pub fn check_url(trusted: &Trusted, url: &str) -> Result<(), String> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Ok(()); // the policy check reports malformed URLs
    };
    // The parser writes IP hosts in their canonical form (`127.0.0.1`, `[::1]`).
    let canonical = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let as_given = super::policy::url_host(url)
        .map(|(h, _)| h)
        .unwrap_or_default();
    if trusted.contains(&as_given) {
        return Ok(());
    }
    trusted
        .check_literal(&canonical)
        .map_err(|_| refusal(&as_given))
}

/// `host` of an allowlist entry (`host`, `host:port`, `[v6]:port` or a bare IPv6 address),
/// lower-case, brackets kept: the host part as URLs spell it.
fn host_part(entry: &str) -> String {
    let entry = if entry.matches(':').count() > 1 && !entry.starts_with('[') {
        format!("[{entry}]")
    } else {
        entry.to_owned()
    };
    super::policy::url_host(&format!("http://{entry}")).map_or(entry, |(host, _)| host)
}

/// The one message for every refused destination: it names only the host the buildpack gave.
pub fn refusal(host: &str) -> String {
    format!(
        "{host} is not a public address (loopback, link-local, private and unique-local \
         destinations are refused, also when a name resolves to one); the user can allow it \
         with --network-allow {host}"
    )
}

/// A destination refused by this module (never retried; the build's policy, not the network).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Whether `err` (or one of its sources) is a [`Refused`].
pub fn is_refusal(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut at = Some(err);
    while let Some(e) = at {
        if e.is::<Refused>() {
            return true;
        }
        at = e.source();
    }
    false
}

/// A resolver that drops internal addresses of names the user did not allow.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    trusted: Arc<Trusted>,
}

impl GuardedResolver {
    /// A resolver for `trusted`.
    pub fn new(trusted: Arc<Trusted>) -> Self {
        Self { trusted }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let trusted = self.trusted.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = trusted.contains(&host);
            let usable: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| allowed || !is_internal(a.ip()))
                .collect();
            if usable.is_empty() {
                return Err(Box::new(Refused(refusal(&host))) as Box<_>);
            }
            let addrs: Addrs = Box::new(usable.into_iter());
            Ok(addrs)
        })
    }
}

/// Follow redirects only to http(s) URLs whose host passes `allowed_host` (the allowlist)
/// and is not an internal IP literal; names are checked again by the resolver.
pub fn redirect_policy(
    trusted: Arc<Trusted>,
    allowed_host: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error(Refused(format!("more than {MAX_REDIRECTS} redirects")));
        }
        let url = attempt.url().clone();
        if !matches!(url.scheme(), "http" | "https") {
            return attempt.error(Refused(format!(
                "a redirect to a {} URL was refused",
                url.scheme()
            )));
        }
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return attempt.error(Refused(
                "a redirect to a URL without a host was refused".into(),
            ));
        };
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        if !allowed_host(&authority) {
            return attempt.error(Refused(format!(
                "a redirect to {host} was refused: it is not allowed by --network-allow"
            )));
        }
        if let Err(why) = check_url(&trusted, url.as_str()) {
            return attempt.error(Refused(format!("a redirect was refused: {why}")));
        }
        attempt.follow()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literals_are_refused_unless_allowed() {
        let none = Trusted::default();
        assert!(none.check_literal("127.0.0.1").is_err());
        assert!(none.check_literal("[::1]").is_err());
        assert!(none.check_literal("example.com").is_ok());
        let allowed = Trusted {
            hosts: vec!["127.0.0.1".into(), "[::1]".into()],
        };
        assert!(allowed.check_literal("127.0.0.1").is_ok());
        assert!(allowed.check_literal("[::1]").is_ok());
        assert_eq!(host_part("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_part("[::1]:9"), "[::1]");
        assert_eq!(host_part("::1"), "[::1]");
    }
}
