//! The client's address: the TCP peer, unless the peer is a proxy the operator trusts
//! (`SCOREMATE_TRUSTED_PROXIES`); then the forwarding headers the proxies appended say who
//! it is. Only then: any client can send `Forwarded` or `X-Forwarded-For`, so from an
//! untrusted peer they are ignored, and from a trusted one only the hops the trusted
//! proxies appended count — the list is read from the right, skipping trusted addresses,
//! and the first untrusted one is the client (whatever a client wrote further left is its
//! own claim). `Forwarded` (RFC 7239) is read when present, else `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use warp::http::HeaderMap;
use warp::http::header::FORWARDED;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The networks whose connections are proxies that append the client's address.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    pub fn new(networks: &[IpNet]) -> Self {
        Self(networks.into())
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The address a request comes from, for throttling and logs.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = if headers.contains_key(FORWARDED) {
            forwarded_for(headers)
        } else {
            x_forwarded_for(headers)
        };
        // From the nearest hop outwards; an unreadable hop ("unknown", an obfuscated
        // name, garbage) ends the walk at the last address a trusted proxy vouched for.
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(address) if self.trusts(*address) => client = *address,
                Some(address) => return *address,
                None => return client,
            }
        }
        client
    }
}

/// The `for=` of every element of every `Forwarded` header, in order.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all(FORWARDED)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or_default().split(','))
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, value)| node_address(value.trim().trim_matches('"')))
        })
        .collect()
}

/// Every entry of every `X-Forwarded-For` header, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or_default().split(','))
        .map(|entry| node_address(entry.trim()))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn node_address(node: &str) -> Option<IpAddr> {
    node.parse::<IpAddr>()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| {
            node.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })
}

/// `10.0.0.0/8`, or a single address (`10.0.0.7`, `::1`) for just that one.
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither a network (10.0.0.0/8) nor an address"))
}

#[cfg(test)]
mod tests {
    use warp::http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse()
            .unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn trusted(networks: &[&str]) -> TrustedProxies {
        let networks: Vec<IpNet> = networks
            .iter()
            .map(|text| parse_network(text).unwrap_or_else(|error| panic!("{error}")))
            .collect();
        TrustedProxies::new(&networks)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        assert_eq!(
            proxies.client_ip(ip("192.0.2.9"), &spoofed),
            ip("192.0.2.9")
        );
        let nobody = TrustedProxies::default();
        assert_eq!(nobody.client_ip(ip("10.0.0.1"), &spoofed), ip("10.0.0.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = trusted(&["10.0.0.0/8"]);
        // The client claims 6.6.6.6; the edge proxy appended what it saw, 1.2.3.4.
        let forwarded = headers(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.2")]);
        assert_eq!(proxies.client_ip(ip("10.0.0.3"), &forwarded), ip("1.2.3.4"));
        let split = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "1.2.3.4"),
        ]);
        assert_eq!(proxies.client_ip(ip("10.0.0.3"), &split), ip("1.2.3.4"));
    }

    #[test]
    fn forwarded_is_read_before_x_forwarded_for() {
        let proxies = trusted(&["127.0.0.1", "::1"]);
        let both = headers(&[
            (
                "forwarded",
                "for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\"",
            ),
            ("x-forwarded-for", "1.2.3.4"),
        ]);
        assert_eq!(proxies.client_ip(ip("::1"), &both), ip("2001:db8:cafe::17"));
        let port = headers(&[("forwarded", "For=\"192.0.2.43:47011\"")]);
        assert_eq!(proxies.client_ip(ip("127.0.0.1"), &port), ip("192.0.2.43"));
    }

    #[test]
    fn an_unreadable_hop_leaves_the_proxy_that_reported_it() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let unknown = headers(&[("forwarded", "for=unknown, for=10.0.0.5")]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &unknown), ip("10.0.0.5"));
        let garbage = headers(&[("x-forwarded-for", "not an address")]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &garbage), ip("10.0.0.1"));
        let empty = headers(&[]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &empty), ip("10.0.0.1"));
    }

    #[test]
    fn a_chain_of_trusted_hops_ends_at_the_leftmost() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let internal = headers(&[("x-forwarded-for", "10.1.1.1, 10.2.2.2")]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &internal), ip("10.1.1.1"));
    }

    #[test]
    fn networks_and_single_addresses_parse() {
        assert_eq!(parse_network("10.0.0.0/8").map(|n| n.prefix_len()), Ok(8));
        assert_eq!(parse_network(" ::1 ").map(|n| n.prefix_len()), Ok(128));
        assert_eq!(parse_network("192.0.2.7").map(|n| n.prefix_len()), Ok(32));
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("proxy.example").is_err());
    }
}
