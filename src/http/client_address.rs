//! The caller's address: the TCP peer, or — only when that peer is a trusted proxy
//! (`server.trusted_proxies`) — the address the proxies forwarded, from `Forwarded`
//! (RFC 7239 §4, `for=`) or else `X-Forwarded-For`.
//!
//! Proxies append, so the right-most entry is the one the nearest proxy saw; anything to
//! its left may have been sent by the caller. The caller is therefore the right-most
//! address that is not itself a trusted proxy. A header that cannot be read falls back
//! to the peer: a forged or garbled header never yields an address of the sender's
//! choosing.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::http::header::{HeaderMap, HeaderName, FORWARDED};
use actix_web::HttpRequest;
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        TrustedProxies(networks)
    }

    fn contains(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }
}

/// The address of whoever sent `req`, for rate limits and audit.
pub fn caller_address(req: &HttpRequest, trusted: &TrustedProxies) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| peer.ip());
    resolve(peer.to_canonical(), req.headers(), trusted)
}

fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    if !trusted.contains(peer) {
        return peer;
    }
    let chain = forwarded_for(headers).or_else(|| x_forwarded_for(headers));
    let Some(Ok(chain)) = chain else {
        return peer;
    };
    // Right to left, past our own proxies; `chain` is never empty.
    chain
        .iter()
        .rev()
        .find(|address| !trusted.contains(**address))
        .or(chain.first())
        .copied()
        .unwrap_or(peer)
}

/// All values of a header, in order, as one comma-separated list; `None` when absent,
/// `Some(Err)` when a value is not text.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<Result<String, ()>> {
    let mut values = headers.get_all(name).peekable();
    values.peek()?;
    let texts: Result<Vec<&str>, ()> = values.map(|v| v.to_str().map_err(|_| ())).collect();
    Some(texts.map(|texts| texts.join(",")))
}

/// The `for=` addresses of `Forwarded`, left to right. An element without `for=`, or a
/// `for=` that is no address (`unknown`, an obfuscated name), makes the chain unreadable.
fn forwarded_for(headers: &HeaderMap) -> Option<Result<Vec<IpAddr>, ()>> {
    let text = match joined(headers, &FORWARDED)? {
        Ok(text) => text,
        Err(()) => return Some(Err(())),
    };
    let chain = text
        .split(',')
        .map(|element| {
            let node = element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                .map(|(_, value)| value.trim())
                .ok_or(())?;
            forwarded_node(node)
        })
        .collect();
    Some(chain)
}

/// RFC 7239 §6: `192.0.2.43`, `"192.0.2.43:47011"`, `"[2001:db8::17]"`,
/// `"[2001:db8::17]:4711"`.
fn forwarded_node(node: &str) -> Result<IpAddr, ()> {
    let node = node
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(node);
    if let Some(rest) = node.strip_prefix('[') {
        let (address, port) = rest.split_once(']').ok_or(())?;
        if !(port.is_empty() || port.starts_with(':')) {
            return Err(());
        }
        return address.parse().map_err(|_| ());
    }
    let address = match node.split_once(':') {
        Some((address, _port)) => address,
        None => node,
    };
    address.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| ())
}

/// The addresses of `X-Forwarded-For`, left to right.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Result<Vec<IpAddr>, ()>> {
    let text = match joined(headers, &X_FORWARDED_FOR)? {
        Ok(text) => text,
        Err(()) => return Some(Err(())),
    };
    let chain = text
        .split(',')
        .map(|item| item.trim().parse::<IpAddr>().map_err(|_| ()))
        .collect();
    Some(chain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(pairs: &[(&HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append((*name).clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(cidrs: &[&str]) -> TrustedProxies {
        TrustedProxies::new(cidrs.iter().map(|c| c.parse().unwrap()).collect())
    }

    #[test]
    fn an_untrusted_peer_is_the_caller_whatever_it_sends() {
        let sent = headers(&[
            (&X_FORWARDED_FOR, "203.0.113.9"),
            (&FORWARDED, "for=203.0.113.9"),
        ]);
        assert_eq!(
            resolve(ip("198.51.100.1"), &sent, &proxies(&[])),
            ip("198.51.100.1")
        );
        assert_eq!(
            resolve(ip("198.51.100.1"), &sent, &proxies(&["10.0.0.0/8"])),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_caller() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        let sent = headers(&[(&X_FORWARDED_FOR, "1.1.1.1, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(resolve(peer, &sent, &trusted), ip("203.0.113.9"));
        let sent = headers(&[
            (
                &FORWARDED,
                r#"for=1.1.1.1, for="[2001:db8::17]:4711";proto=https"#,
            ),
            (&FORWARDED, "for=10.0.0.3"),
            (&X_FORWARDED_FOR, "9.9.9.9"),
        ]);
        assert_eq!(
            resolve(peer, &sent, &trusted),
            ip("2001:db8::17"),
            "Forwarded wins over X-Forwarded-For"
        );
        let sent = headers(&[(&FORWARDED, r#"For="192.0.2.43:47011""#)]);
        assert_eq!(resolve(peer, &sent, &trusted), ip("192.0.2.43"));
        let only_proxies = headers(&[(&X_FORWARDED_FOR, "10.0.0.7, 10.0.0.2")]);
        assert_eq!(resolve(peer, &only_proxies, &trusted), ip("10.0.0.7"));
    }

    #[test]
    fn unreadable_headers_fall_back_to_the_peer() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        for sent in [
            headers(&[(&X_FORWARDED_FOR, "203.0.113.9, not-an-address")]),
            headers(&[(&X_FORWARDED_FOR, "")]),
            headers(&[(&FORWARDED, "for=unknown")]),
            headers(&[(&FORWARDED, "for=_hidden, for=203.0.113.9")]),
            headers(&[(&FORWARDED, "proto=https")]),
            headers(&[(&FORWARDED, r#"for="[2001:db8::17""#)]),
            headers(&[]),
        ] {
            assert_eq!(resolve(peer, &sent, &trusted), peer, "{sent:?}");
        }
    }
}
