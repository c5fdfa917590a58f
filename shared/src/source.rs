//! Where a request came from: its client's IP address and User-Agent, recorded on the
//! sessions it creates and the security events it causes.
//!
//! The IP is API Gateway's `requestContext.http.sourceIp` (the dev server puts its peer's
//! address there). `X-Forwarded-For` is a header any client can write, so it is read only
//! when the address that reached us is a proxy the operator named
//! (`LATCHKEY_TRUSTED_PROXIES`); then the right-most address in it that is not itself a
//! trusted proxy is the client. Behind CloudFront (`LATCHKEY_TRUSTED_PROXY=cloudfront`),
//! the client is CloudFront's `CloudFront-Viewer-Address` instead, which CloudFront
//! overwrites whatever the viewer sent.
//!
//! The source of the request being served is task-local ([`within`], set once by the
//! dispatcher for the whole request), so that whatever writes an event or a session deep
//! below the operation records it without every operation passing it down; outside a
//! request (the operator CLI, tests calling operations directly) it is empty, which the
//! log shows as `null`.

use lambda_http::http::header;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use std::future::Future;
use std::net::IpAddr;

/// The longest User-Agent kept; longer ones are cut (on a character boundary).
pub const MAX_USER_AGENT_CHARS: usize = 512;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

tokio::task_local! {
    static CURRENT: Source;
}

/// Runs `work` as the serving of a request from `source`.
pub async fn within<F: Future>(source: Source, work: F) -> F::Output {
    CURRENT.scope(source, work).await
}

/// The source of the request being served; empty outside one.
pub fn current() -> Source {
    CURRENT.try_with(Clone::clone).unwrap_or_default()
}

/// A network, `10.0.0.0/8` or one address, as `LATCHKEY_TRUSTED_PROXIES` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(raw: &str) -> Option<Network> {
        let raw = raw.trim();
        let (address, prefix) = match raw.split_once('/') {
            Some((address, prefix)) => (address.parse().ok()?, Some(prefix.parse().ok()?)),
            None => (raw.parse().ok()?, None),
        };
        let bits = match address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(Network { address, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (network, ip, bits) = match (self.address, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(a)), 32u32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128u32),
            _ => return false,
        };
        let host_bits = bits - u32::from(self.prefix);
        let mask = if host_bits >= 128 {
            0
        } else {
            u128::MAX << host_bits
        };
        network & mask == ip & mask
    }
}

/// Which of a request's own claims about its client are believed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trust<'a> {
    /// Peers whose `X-Forwarded-For` is believed.
    pub proxies: &'a [Network],
    /// Every request comes through CloudFront: its `CloudFront-Viewer-Address` is the client.
    pub cloudfront: bool,
}

/// The source of `request`, believing only what `trust` names.
pub fn of_request(request: &Request, trust: Trust<'_>) -> Source {
    let context = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => Some(&context.http),
        _ => None,
    };
    let peer = context
        .and_then(|http| http.source_ip.as_deref())
        .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
        // A dual-stack listener sees IPv4 clients as `::ffff:a.b.c.d`.
        .map(|ip| ip.to_canonical());
    let forwarded = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| context.and_then(|http| http.user_agent.clone()));
    let viewer = trust
        .cloudfront
        .then(|| request.headers().get("cloudfront-viewer-address"))
        .flatten()
        .and_then(|value| value.to_str().ok())
        .and_then(viewer_address);
    Source {
        ip: viewer
            .or_else(|| peer.map(|peer| client_address(peer, &forwarded, trust.proxies)))
            .map(|ip| ip.to_string()),
        user_agent: user_agent.as_deref().and_then(clean_user_agent),
    }
}

/// The address of CloudFront's `CloudFront-Viewer-Address` (`198.51.100.7:46532`,
/// `2001:db8::7:46532`: the source port follows the last colon).
fn viewer_address(header: &str) -> Option<IpAddr> {
    let (address, port) = header.trim().rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let address = address.trim_start_matches('[').trim_end_matches(']');
    address.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy, else the
/// right-most address of `forwarded` that is not one (a proxy appends what it saw; what
/// the client wrote comes before and is not believed).
fn client_address(peer: IpAddr, forwarded: &str, trusted: &[Network]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = peer;
    if !is_trusted(peer) {
        return client;
    }
    for hop in forwarded.rsplit(',') {
        match hop.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// A User-Agent as stored: control characters dropped, at most
/// [`MAX_USER_AGENT_CHARS`], none when nothing is left.
pub fn clean_user_agent(raw: &str) -> Option<String> {
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    (!cleaned.is_empty()).then(|| cleaned.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
    };
    use lambda_http::Body;

    fn request(source_ip: &str, forwarded: Option<&str>, user_agent: &str) -> Request {
        request_with(source_ip, forwarded.as_slice(), user_agent)
    }

    /// A request from `source_ip` with one `X-Forwarded-For` header per `forwarded`.
    fn request_with(source_ip: &str, forwarded: &[&str], user_agent: &str) -> Request {
        let mut builder = lambda_http::http::Request::builder().header("user-agent", user_agent);
        for forwarded in forwarded {
            builder = builder.header("x-forwarded-for", *forwarded);
        }
        let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
        http.source_ip = Some(source_ip.to_owned());
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.http = http;
        builder
            .body(Body::Empty)
            .unwrap()
            .with_request_context(RequestContext::ApiGatewayV2(context))
    }

    fn networks(list: &[&str]) -> Vec<Network> {
        list.iter().map(|n| Network::parse(n).unwrap()).collect()
    }

    /// The client address of `r` when `proxies` are trusted.
    fn behind(r: &Request, proxies: &[&str]) -> Option<String> {
        let proxies = networks(proxies);
        of_request(
            r,
            Trust {
                proxies: &proxies,
                cloudfront: false,
            },
        )
        .ip
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let r = request("203.0.113.9", Some("198.51.100.1"), "ua");
        assert_eq!(
            of_request(&r, Trust::default()).ip.as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(behind(&r, &["10.0.0.0/8"]).as_deref(), Some("203.0.113.9"));
        let r = request("10.1.2.3", Some("198.51.100.1, 192.0.2.7, 10.0.0.5"), "ua");
        assert_eq!(
            behind(&r, &["10.0.0.0/8"]).as_deref(),
            Some("192.0.2.7"),
            "the right-most untrusted hop, not what the client wrote first"
        );
        assert_eq!(
            of_request(&r, Trust::default()).ip.as_deref(),
            Some("10.1.2.3")
        );
        let r = request("10.1.2.3", Some("not an address"), "ua");
        assert_eq!(behind(&r, &["10.1.2.3"]).as_deref(), Some("10.1.2.3"));
        let r = request("::ffff:10.1.2.3", Some("192.0.2.7"), "ua");
        assert_eq!(
            behind(&r, &["10.0.0.0/8"]).as_deref(),
            Some("192.0.2.7"),
            "an IPv4 peer seen through a dual-stack socket is still that IPv4 address"
        );
        let r = request("2001:db8::1", Some("2001:db8:1::7"), "ua");
        assert_eq!(
            behind(&r, &["2001:db8::/64"]).as_deref(),
            Some("2001:db8:1::7")
        );
    }

    #[test]
    fn cloudfront_viewer_address_is_believed_only_when_configured() {
        let mut r = request("130.176.0.1", Some("198.51.100.1"), "ua");
        r.headers_mut().insert(
            "cloudfront-viewer-address",
            "192.0.2.44:46532".parse().unwrap(),
        );
        let cloudfront = Trust {
            proxies: &[],
            cloudfront: true,
        };
        assert_eq!(of_request(&r, cloudfront).ip.as_deref(), Some("192.0.2.44"));
        assert_eq!(
            of_request(&r, Trust::default()).ip.as_deref(),
            Some("130.176.0.1")
        );
        r.headers_mut().insert(
            "cloudfront-viewer-address",
            "2001:db8::7:443".parse().unwrap(),
        );
        assert_eq!(
            of_request(&r, cloudfront).ip.as_deref(),
            Some("2001:db8::7")
        );
        r.headers_mut()
            .insert("cloudfront-viewer-address", "garbage".parse().unwrap());
        assert_eq!(
            of_request(&r, cloudfront).ip.as_deref(),
            Some("130.176.0.1"),
            "an unreadable header falls back to the peer"
        );
    }

    #[test]
    fn networks_parse_and_match() {
        assert!(Network::parse("10.0.0.0/33").is_none());
        assert!(Network::parse("nonsense").is_none());
        let all = Network::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let one = Network::parse("192.0.2.1").unwrap();
        assert!(one.contains("192.0.2.1".parse().unwrap()));
        assert!(!one.contains("192.0.2.2".parse().unwrap()));
    }

    #[test]
    fn user_agents_lose_control_characters_and_are_bounded() {
        assert_eq!(
            clean_user_agent("Mozilla/5.0\r\nX-Evil: 1\u{7}").as_deref(),
            Some("Mozilla/5.0X-Evil: 1")
        );
        assert_eq!(
            clean_user_agent(&"é".repeat(2000)).map(|ua| ua.chars().count()),
            Some(MAX_USER_AGENT_CHARS)
        );
        assert_eq!(clean_user_agent(" \t "), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use std::net::{Ipv4Addr, Ipv6Addr};

        const TRUSTED: [&str; 2] = ["10.0.0.0/8", "fd00::/8"];

        fn any_ip() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
                any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
                any::<u32>().prop_map(|a| IpAddr::V6(Ipv4Addr::from(a).to_ipv6_mapped())),
            ]
        }

        fn trusted(ip: IpAddr) -> bool {
            networks(&TRUSTED)
                .iter()
                .any(|n| n.contains(ip.to_canonical()))
        }

        fn trusted_ip() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                any::<u32>()
                    .prop_map(|a| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (a & 0x00ff_ffff)))),
                any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from((0xfd << 120) | (a >> 8)))),
            ]
        }

        proptest! {
            #![proptest_config(crate::domain::cases(256))]

            /// A network contains an address exactly when their first `prefix` bits agree
            /// (and they are of one family).
            #[test]
            fn a_network_contains_what_shares_its_prefix(
                network in any_ip(),
                prefix in 0u8..=128,
                ip in any_ip(),
            ) {
                let bits = if network.is_ipv4() { 32 } else { 128 };
                let prefix = prefix % (bits + 1);
                let parsed = Network::parse(&format!("{network}/{prefix}")).unwrap();
                let value = |ip: IpAddr| match ip {
                    IpAddr::V4(a) => u128::from(u32::from(a)),
                    IpAddr::V6(a) => u128::from(a),
                };
                let shift = u32::from(bits - prefix);
                let same = network.is_ipv4() == ip.is_ipv4()
                    && value(network).checked_shr(shift).unwrap_or(0) == value(ip).checked_shr(shift).unwrap_or(0);
                prop_assert_eq!(parsed.contains(ip), same);
            }

            /// Behind trusted proxies, whatever a client wrote into `X-Forwarded-For`
            /// (one header or several), the client is the address the first trusted proxy
            /// appended; from an untrusted peer the header is not read at all.
            #[test]
            fn a_client_cannot_choose_its_address(
                written in "[ -~]{0,80}",
                client in any_ip().prop_filter("not a proxy", |ip| !trusted(*ip)),
                proxies in proptest::collection::vec(trusted_ip(), 0..4),
                peer in trusted_ip(),
                stranger in any_ip().prop_filter("not a proxy", |ip| !trusted(*ip)),
                split in any::<bool>(),
            ) {
                let appended: Vec<String> = std::iter::once(client).chain(proxies).map(|ip| ip.to_string()).collect();
                let headers = if split {
                    vec![written, appended.join(", ")]
                } else {
                    vec![format!("{written}, {}", appended.join(","))]
                };
                let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
                let r = |peer: IpAddr| request_with(&peer.to_string(), &headers, "ua");
                let proxies = networks(&TRUSTED);
                let trust = Trust { proxies: &proxies, cloudfront: false };
                let expected = client.to_canonical().to_string();
                prop_assert_eq!(of_request(&r(peer), trust).ip, Some(expected));
                prop_assert_eq!(of_request(&r(stranger), trust).ip, Some(stranger.to_canonical().to_string()));
            }

            /// A User-Agent as kept: no control character, at most 512 characters, no
            /// blanks around, and none at all only when nothing else was there.
            #[test]
            fn user_agents_are_kept_clean_and_bounded(raw in prop_oneof![any::<String>(), "[ \\t\\r\\na-z\\u{7}\\u{85}]{0,700}"]) {
                match clean_user_agent(&raw) {
                    Some(ua) => {
                        prop_assert!(!ua.chars().any(char::is_control));
                        prop_assert!(ua.chars().count() <= MAX_USER_AGENT_CHARS);
                        prop_assert_eq!(ua.trim(), ua.as_str());
                        prop_assert!(!ua.is_empty());
                    }
                    None => {
                        let kept: String = raw.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT_CHARS).collect();
                        prop_assert!(kept.trim().is_empty());
                    }
                }
            }

            #[test]
            fn any_viewer_address_or_network_text_is_read_or_refused(text in any::<String>()) {
                let _ = viewer_address(&text);
                let _ = Network::parse(&text);
            }
        }
    }
}
