//! The caller's address: the TCP peer, or — only when that peer is a trusted proxy
//! (`server.trusted_proxies`) — the address the proxies forwarded, in the one header
//! they write (`server.forwarded_header`: `X-Forwarded-For`, or `Forwarded` per RFC 7239
//! §4, `for=`). The other header is never read: proxies pass on what the caller sent in
//! it, so believing it would let a caller choose its own address.
//!
//! Proxies append, so the right-most entry is the one the nearest proxy saw; anything to
//! its left may have been written by the caller. The chain is therefore read from the
//! right, past our own proxies, and the first address that is not one of them is the
//! caller; nothing to its left is looked at. An entry that cannot be read before that
//! point ends the walk at the nearest trusted hop: never at the peer alone when a
//! trusted proxy vouched for more, and never at an address the sender chose. Every
//! address is canonical (`::ffff:a.b.c.d` is `a.b.c.d`).

use std::net::{IpAddr, Ipv4Addr};

use actix_web::http::header::{HeaderMap, HeaderName, FORWARDED};
use actix_web::HttpRequest;
use ipnet::IpNet;
use serde::Deserialize;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The header trusted proxies write the caller's address into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    #[default]
    XForwardedFor,
    Forwarded,
}

/// The proxies whose forwarding header is believed, and which header that is.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>, header: ForwardedHeader) -> Self {
        TrustedProxies { networks, header }
    }

    fn contains(&self, address: IpAddr) -> bool {
        self.networks
            .iter()
            .any(|network| network.contains(&address))
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
    let entries = match trusted.header {
        ForwardedHeader::XForwardedFor => entries(headers, &X_FORWARDED_FOR),
        ForwardedHeader::Forwarded => entries(headers, &FORWARDED),
    };
    let mut nearest_trusted = peer;
    for entry in entries.iter().rev() {
        let parsed = match trusted.header {
            ForwardedHeader::XForwardedFor => entry.trim().parse::<IpAddr>().map_err(drop),
            ForwardedHeader::Forwarded => forwarded_element(entry),
        };
        let Ok(address) = parsed.map(|address| address.to_canonical()) else {
            break;
        };
        if !trusted.contains(address) {
            return address;
        }
        nearest_trusted = address;
    }
    nearest_trusted
}

/// The comma-separated entries of every value of a header, in order; an unreadable
/// value reads as one unreadable entry.
fn entries(headers: &HeaderMap, name: &HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .flat_map(|value| match value.to_str() {
            Ok(text) => text.split(',').map(str::to_owned).collect::<Vec<_>>(),
            Err(_) => vec![String::new()],
        })
        .collect()
}

/// The `for=` address of one `Forwarded` element; an element without `for=`, or a
/// `for=` that is no address (`unknown`, an obfuscated name), cannot be read.
fn forwarded_element(element: &str) -> Result<IpAddr, ()> {
    let node = element
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
        .map(|(_, value)| value.trim())
        .ok_or(())?;
    forwarded_node(node)
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

    fn proxies(cidrs: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(cidrs.iter().map(|c| c.parse().unwrap()).collect(), header)
    }

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;

    #[test]
    fn an_untrusted_peer_is_the_caller_whatever_it_sends() {
        let sent = headers(&[
            (&X_FORWARDED_FOR, "203.0.113.9"),
            (&FORWARDED, "for=203.0.113.9"),
        ]);
        for trusted in [proxies(&[], XFF), proxies(&["10.0.0.0/8"], XFF)] {
            assert_eq!(
                resolve(ip("198.51.100.1"), &sent, &trusted),
                ip("198.51.100.1")
            );
        }
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_caller() {
        let trusted = proxies(&["10.0.0.0/8"], XFF);
        let peer = ip("10.0.0.1");
        let sent = headers(&[(&X_FORWARDED_FOR, "1.1.1.1, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(resolve(peer, &sent, &trusted), ip("203.0.113.9"));
        let sent = headers(&[(&X_FORWARDED_FOR, "::ffff:203.0.113.9")]);
        assert_eq!(resolve(peer, &sent, &trusted), ip("203.0.113.9"));
        let only_proxies = headers(&[(&X_FORWARDED_FOR, "10.0.0.7, 10.0.0.2")]);
        assert_eq!(resolve(peer, &only_proxies, &trusted), ip("10.0.0.7"));

        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let sent = headers(&[
            (
                &FORWARDED,
                r#"for=1.1.1.1, for="[2001:db8::17]:4711";proto=https"#,
            ),
            (&FORWARDED, "for=10.0.0.3"),
            (&X_FORWARDED_FOR, "9.9.9.9"),
        ]);
        assert_eq!(resolve(peer, &sent, &trusted), ip("2001:db8::17"));
        let sent = headers(&[(&FORWARDED, r#"For="192.0.2.43:47011""#)]);
        assert_eq!(resolve(peer, &sent, &trusted), ip("192.0.2.43"));
    }

    /// Only the configured header is believed: the caller may have sent the other one,
    /// which proxies pass on untouched.
    #[test]
    fn the_other_header_is_never_read() {
        let peer = ip("10.0.0.1");
        let forged = headers(&[
            (&FORWARDED, "for=6.6.6.6"),
            (&X_FORWARDED_FOR, "203.0.113.9"),
        ]);
        assert_eq!(
            resolve(peer, &forged, &proxies(&["10.0.0.0/8"], XFF)),
            ip("203.0.113.9")
        );
        let forged = headers(&[
            (&X_FORWARDED_FOR, "6.6.6.6"),
            (&FORWARDED, "for=203.0.113.9"),
        ]);
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        assert_eq!(resolve(peer, &forged, &trusted), ip("203.0.113.9"));
    }

    /// What the caller wrote left of the proxy's entry is never looked at, so garbage
    /// there cannot push the request onto the proxy's address.
    #[test]
    fn garbage_left_of_the_caller_is_ignored() {
        let trusted = proxies(&["10.0.0.0/8"], XFF);
        let peer = ip("10.0.0.1");
        for sent in ["not-an-address, 203.0.113.9", "x, , 203.0.113.9, 10.0.0.2"] {
            let sent = headers(&[(&X_FORWARDED_FOR, sent)]);
            assert_eq!(resolve(peer, &sent, &trusted), ip("203.0.113.9"));
        }
    }

    /// An entry that cannot be read where the trusted part of the chain should go on
    /// ends the walk at the nearest trusted hop.
    #[test]
    fn unreadable_entries_stop_at_the_nearest_trusted_hop() {
        let trusted = proxies(&["10.0.0.0/8"], XFF);
        let peer = ip("10.0.0.1");
        let sent = headers(&[(&X_FORWARDED_FOR, "203.0.113.9, junk, 10.0.0.2")]);
        assert_eq!(resolve(peer, &sent, &trusted), ip("10.0.0.2"));
        for sent in [
            headers(&[(&X_FORWARDED_FOR, "203.0.113.9, not-an-address")]),
            headers(&[(&X_FORWARDED_FOR, "")]),
            headers(&[]),
        ] {
            assert_eq!(resolve(peer, &sent, &trusted), peer, "{sent:?}");
        }
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        for sent in [
            headers(&[(&FORWARDED, "for=unknown")]),
            headers(&[(&FORWARDED, "for=203.0.113.9, for=_hidden")]),
            headers(&[(&FORWARDED, "proto=https")]),
            headers(&[(&FORWARDED, r#"for="[2001:db8::17""#)]),
        ] {
            assert_eq!(resolve(peer, &sent, &trusted), peer, "{sent:?}");
        }
    }
}
