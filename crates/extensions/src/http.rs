//! The one outbound HTTP client commands use, which refuses internal addresses (SSRF).
//!
//! A command such as "Custom API Endpoint" lets a model choose the URL, so without checks it
//! could read cloud metadata (169.254.169.254), the database's admin port or anything else
//! the server can reach. `SafeClient` refuses every address that is not public:
//! - IP-literal hosts are checked before sending, and on every redirect hop;
//! - names are checked by the resolver at connect time, on **every** address it returns, so a
//!   name that resolves to a public and a private address, or that rebinds between a check and
//!   the connection, cannot reach the private one (the connection uses exactly the addresses
//!   that were checked).
//!
//! Environment proxies are ignored when the checks are on: a proxy resolves names itself,
//! which would bypass them. Operators who run local LLMs turn the checks off
//! (`allow_private`), and then proxies are honoured as usual.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::{Host, Url};

/// Redirect hops followed before giving up (browsers allow ~20; APIs rarely need more than 1).
const MAX_REDIRECTS: usize = 5;
/// The whole request, body included: a command must not hold a worker for long.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The response body kept; the rest is dropped unread. A command's output goes into the
/// conversation and the model's context, where more than this is of no use.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// An outbound HTTP client that refuses non-public addresses unless told otherwise. Build one
/// at startup and clone it: clones share one connection pool.
#[derive(Clone)]
pub struct SafeClient {
    /// Building a rustls client fails only when TLS cannot start; that error is kept and
    /// returned by every request rather than panicking at startup.
    client: Result<reqwest::Client, Arc<str>>,
    allow_private: bool,
}

/// A response: its status and up to `MAX_BODY_BYTES` of its body (lossy UTF-8).
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The address is not public (or a redirect led to one).
    #[error("{0}")]
    Forbidden(String),
    /// The request itself is malformed: URL, scheme, method or a header.
    #[error("{0}")]
    BadRequest(String),
    /// The network or the server failed: DNS, connection, TLS, timeout, too many redirects.
    #[error("{0}")]
    Failed(String),
}

/// Why an address was refused; found again in reqwest's error chain by `classify`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

/// A client builder with the address rules of [`SafeClient`] (no timeout set): for callers
/// that need their own timeouts, such as a model's stream. Pair it with [`checked_url`].
pub fn guarded_builder(allow_private: bool) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .user_agent(concat!("Agentry/", env!("CARGO_PKG_VERSION")))
        .redirect(redirect_policy(allow_private));
    if allow_private {
        builder
    } else {
        builder
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnlyResolver))
    }
}

/// `url` parsed, http or https with a host, and (unless `allow_private`) not naming an
/// address that is not public; the resolver of [`guarded_builder`] checks host names.
pub fn checked_url(url: &str, allow_private: bool) -> Result<Url, HttpError> {
    let url = Url::parse(url.trim())
        .map_err(|error| HttpError::BadRequest(format!("invalid URL: {error}")))?;
    if !scheme_allowed(&url) {
        return Err(HttpError::BadRequest(
            "only http and https URLs are allowed".to_owned(),
        ));
    }
    if url.host().is_none() {
        return Err(HttpError::BadRequest("the URL has no host".to_owned()));
    }
    if !allow_private && !host_allowed(&url) {
        return Err(HttpError::Forbidden(refusal(&url)));
    }
    Ok(url)
}

impl SafeClient {
    /// `allow_private`: when true (configured by operators for local LLMs), skip the address
    /// checks.
    pub fn new(allow_private: bool) -> SafeClient {
        let client = guarded_builder(allow_private)
            .timeout(TIMEOUT)
            .build()
            .map_err(|error| Arc::from(format!("the HTTP client could not start: {error}")));
        SafeClient {
            client,
            allow_private,
        }
    }

    /// Send a request; refuse (`HttpError::Forbidden`) when the URL's host is an IP literal
    /// that is not public, or when any resolved address of a host name is not public, at the
    /// first request and after each redirect (at most 5). Only http and https. The whole
    /// request times out after 30 s; the body is cut at 1 MiB.
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &BTreeMap<String, String>,
        body: Option<String>,
    ) -> Result<HttpResponse, HttpError> {
        let client = self
            .client
            .as_ref()
            .map_err(|error| HttpError::Failed(error.to_string()))?;
        let method = parse_method(method)?;
        let headers = header_map(headers)?;
        let url = self.checked_url(url)?;
        let mut request = client.request(method, url).headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let body = read_capped(response).await?;
        Ok(HttpResponse { status, body })
    }

    fn checked_url(&self, url: &str) -> Result<Url, HttpError> {
        checked_url(url, self.allow_private)
    }
}

impl std::fmt::Debug for SafeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafeClient")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

/// Whether an address may be reached. Refused: loopback, private (10/8, 172.16/12,
/// 192.168/16), link-local (169.254/16, cloud metadata included), unspecified and 0/8,
/// broadcast, multicast, reserved 240/4, CGNAT 100.64/10, benchmarking 198.18/15, the
/// documentation and IETF ranges; for IPv6 everything outside global unicast 2000::/3
/// (loopback, unspecified, unique-local fc00::/7, link-local fe80::/10, multicast...), the
/// documentation ranges and 2001::/23 (Teredo, benchmarking, ORCHID). IPv4-mapped,
/// IPv4-compatible, NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses are judged by the
/// IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network", unspecified
        || a == 10
        || a == 127
        || (a == 100 && (64..=127).contains(&b)) // CGNAT
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..=31).contains(&b))
        || (a == 192 && b == 0 && (c == 0 || c == 2)) // IETF assignments, TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224; // multicast, reserved, broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let global_unicast = s[0] & 0xe000 == 0x2000;
    // 2001::/23 holds IETF protocol assignments (Teredo, benchmarking, ORCHID); 2001:db8::/32
    // and 3fff::/20 are for documentation.
    let refused =
        (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8)) || (s[0] == 0x3fff && s[1] < 0x1000);
    global_unicast && !refused
}

/// The IPv4 address an IPv6 address stands for, in the forms that reach an IPv4 host.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new(
        (s[6] >> 8) as u8,
        (s[6] & 0xff) as u8,
        (s[7] >> 8) as u8,
        (s[7] & 0xff) as u8,
    );
    let mapped = s[..5].iter().all(|&x| x == 0) && s[5] == 0xffff;
    let compatible = s[..6].iter().all(|&x| x == 0);
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0);
    if mapped || compatible || nat64 {
        return Some(tail);
    }
    (s[0] == 0x2002).then(|| {
        Ipv4Addr::new(
            (s[1] >> 8) as u8,
            (s[1] & 0xff) as u8,
            (s[2] >> 8) as u8,
            (s[2] & 0xff) as u8,
        )
    })
}

fn scheme_allowed(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
}

/// IP-literal hosts must be public; names are left to the resolver, which sees every address.
fn host_allowed(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
        Some(Host::Domain(_)) => true,
        None => false,
    }
}

/// Whether a redirect hop may be followed when the checks are on.
fn redirect_allowed(url: &Url) -> bool {
    scheme_allowed(url) && host_allowed(url)
}

fn refusal(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    format!("requests to {host} are not allowed: it is not a public address")
}

fn redirect_policy(allow_private: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        // `previous` holds the URLs already requested, the first one included.
        if attempt.previous().len() > MAX_REDIRECTS {
            let message = format!("more than {MAX_REDIRECTS} redirects");
            return attempt.error(message);
        }
        let url = attempt.url();
        if !scheme_allowed(url) {
            let message = format!("redirect to a {} URL refused", url.scheme());
            return attempt.error(message);
        }
        if !allow_private && !redirect_allowed(url) {
            let refused = Refused(format!("redirect refused: {}", refusal(url)));
            return attempt.error(refused);
        }
        attempt.follow()
    })
}

/// Resolves with the system resolver and fails unless every address is public.
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // The port is replaced by the URL's own when connecting.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(private) = addrs.iter().find(|addr| !is_public(addr.ip())) {
                let ip = private.ip();
                return Err(Refused(format!(
                    "requests to {host} are not allowed: it resolves to {ip}, which is not a public address"
                ))
                .into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

pub(crate) fn parse_method(method: &str) -> Result<reqwest::Method, HttpError> {
    reqwest::Method::from_bytes(method.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| HttpError::BadRequest(format!("invalid HTTP method {method:?}")))
}

pub(crate) fn header_map(headers: &BTreeMap<String, String>) -> Result<HeaderMap, HttpError> {
    headers
        .iter()
        .map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpError::BadRequest(format!("invalid header name {name:?}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| HttpError::BadRequest(format!("invalid value for header {name}")))?;
            Ok((name, value))
        })
        .collect()
}

/// The reqwest error as one of ours: a refusal anywhere in its chain is `Forbidden`.
fn classify(error: reqwest::Error) -> HttpError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return HttpError::Forbidden(refused.0.clone());
        }
        source = current.source();
    }
    if error.is_timeout() {
        return HttpError::Failed("the request timed out".to_owned());
    }
    HttpError::Failed(describe(&error))
}

/// An error and its causes on one line: reqwest's own message alone hides the cause.
fn describe(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The body up to `MAX_BODY_BYTES`, read chunk by chunk so a huge body is never buffered.
async fn read_capped(mut response: reqwest::Response) -> Result<String, HttpError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        let room = MAX_BODY_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn public_addresses() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(is_public(ip), "{public} should be public");
        }
    }

    #[test]
    fn non_public_addresses() {
        for private in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::808:808",
            "2002:7f00:1::1",
            "2001:db8::1",
            "2001::1",
            "2001:2::1",
            "3fff::1",
            "100::1",
        ] {
            let ip: IpAddr = private.parse().unwrap();
            assert!(!is_public(ip), "{private} should not be public");
        }
    }

    #[test]
    fn redirect_hops_are_checked() {
        let allowed = |url: &str| redirect_allowed(&Url::parse(url).unwrap());
        assert!(allowed("https://example.com/x"));
        assert!(allowed("http://8.8.8.8/"));
        assert!(allowed("http://localhost/")); // a name: the resolver judges it
        assert!(!allowed("http://127.0.0.1:8080/secret"));
        assert!(!allowed("http://127.1/"));
        assert!(!allowed("http://0x7f000001/"));
        assert!(!allowed("http://[::1]/"));
        assert!(!allowed("http://[::ffff:127.0.0.1]/"));
        assert!(!allowed("http://169.254.169.254/latest/meta-data"));
        assert!(!allowed("ftp://example.com/"));
        assert!(!allowed("file:///etc/passwd"));
    }

    /// A tiny HTTP/1.1 server on 127.0.0.1: `/redirect` -> 302 to `/secret`, `/secret` ->
    /// "secret", `/loop` -> 302 to itself, `/big` -> 2 MiB of `x`.
    async fn serve() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let path = read_request_path(&mut stream).await;
                    let response = respond(&path, port);
                    let _ = stream.write_all(&response).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        port
    }

    async fn read_request_path(stream: &mut tokio::net::TcpStream) -> String {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        head.split_whitespace().nth(1).unwrap_or("/").to_owned()
    }

    fn respond(path: &str, port: u16) -> Vec<u8> {
        let redirect = |to: &str| {
            format!(
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}{to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .into_bytes()
        };
        let ok = |body: Vec<u8>| {
            let mut response = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            response.extend(body);
            response
        };
        match path {
            "/redirect" => redirect("/secret"),
            "/loop" => redirect("/loop"),
            "/secret" => ok(b"secret".to_vec()),
            "/big" => ok(vec![b'x'; 2 * MAX_BODY_BYTES]),
            _ => {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            }
        }
    }

    async fn get(client: &SafeClient, url: &str) -> Result<HttpResponse, HttpError> {
        client.request("GET", url, &BTreeMap::new(), None).await
    }

    #[tokio::test]
    async fn internal_addresses_are_refused() {
        let port = serve().await;
        let client = SafeClient::new(false);
        for url in [
            format!("http://localhost:{port}/secret"),
            format!("http://127.0.0.1:{port}/secret"),
            format!("http://127.1:{port}/secret"),
            format!("http://0x7f000001:{port}/secret"),
            format!("http://[::ffff:127.0.0.1]:{port}/secret"),
            format!("http://[::1]:{port}/secret"),
            format!("http://127.0.0.1:{port}/redirect"),
            "http://169.254.169.254/latest/meta-data".to_owned(),
        ] {
            match get(&client, &url).await {
                Err(HttpError::Forbidden(reason)) => {
                    assert!(reason.contains("not a public address"), "{reason}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn malformed_requests_are_bad_requests() {
        let client = SafeClient::new(false);
        for url in [
            "ftp://127.0.0.1/file",
            "file:///etc/passwd",
            "not a url",
            "http://",
        ] {
            assert!(
                matches!(get(&client, url).await, Err(HttpError::BadRequest(_))),
                "{url}"
            );
        }
        let bad_method = client
            .request("GE T", "http://127.0.0.1/", &BTreeMap::new(), None)
            .await;
        assert!(matches!(bad_method, Err(HttpError::BadRequest(_))));
        let headers = BTreeMap::from([("bad header".to_owned(), "v".to_owned())]);
        let bad_header = client
            .request("GET", "http://127.0.0.1/", &headers, None)
            .await;
        assert!(matches!(bad_header, Err(HttpError::BadRequest(_))));
    }

    #[tokio::test]
    async fn private_addresses_work_when_allowed() {
        let port = serve().await;
        let client = SafeClient::new(true);
        let followed = get(&client, &format!("http://127.0.0.1:{port}/redirect"))
            .await
            .unwrap();
        assert_eq!((followed.status, followed.body.as_str()), (200, "secret"));
        let big = get(&client, &format!("http://localhost:{port}/big"))
            .await
            .unwrap();
        assert_eq!(big.body.len(), MAX_BODY_BYTES);
        let missing = get(&client, &format!("http://127.0.0.1:{port}/nope"))
            .await
            .unwrap();
        assert_eq!(missing.status, 404);
        let looping = get(&client, &format!("http://127.0.0.1:{port}/loop")).await;
        match looping {
            Err(HttpError::Failed(reason)) => assert!(reason.contains("redirects"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
