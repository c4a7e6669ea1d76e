//! Bearer tokens for the router (ARCHITECTURE.md "Trust boundaries"). Off
//! when no token is configured; then every request is served as before.
//!
//! A token is a random string handed to a caller; the router keeps only its
//! SHA-256 (`sha256:<64 hex>`), with a scope and a name, from
//! [`RouterOptions::tokens`](crate::RouterOptions) and the lines of
//! [`RouterOptions::token_file`](crate::RouterOptions), one entry each:
//!
//! ```text
//! # scope  hash                                                                     name
//! read     sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 dashboards
//! ```
//!
//! Scopes are ordered, each allowing what the ones before it allow:
//! - `read`: every `GET`/`HEAD` of `/v1`, `/metrics`, `/openapi.json`;
//! - `invoke`: invoking and enqueuing (`POST …/invoke/…`, `…/enqueue/…`),
//!   completing promises, and every user-defined API route;
//! - `admin`: everything else (uploading components, creating and deleting
//!   workers, interrupt / resume, deploying API definitions).
//!
//! `/healthz`, `/readyz` and the console page `/` are always open (the console
//! asks for a token and sends it with each call). The token travels as
//! `Authorization: Bearer <token>`, or as `?access_token=<token>` where a browser
//! cannot set headers (the console's event stream). A request without a valid
//! token gets 401 (`unauthorized`, with `WWW-Authenticate: Bearer`); one whose
//! token's scope is too small gets 403 (`forbidden`), each saying what was
//! expected.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use revenant_types::ErrorKind;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::{ApiError, Error};

/// What a token allows; each scope allows what the smaller ones do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Read,
    Invoke,
    Admin,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" | "read-only" => Some(Scope::Read),
            "invoke" => Some(Scope::Invoke),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Invoke => "invoke",
            Scope::Admin => "admin",
        }
    }
}

/// One accepted token: its hash, scope and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    pub hash: [u8; 32],
    pub scope: Scope,
    pub name: String,
}

/// The accepted tokens (empty: authentication is off).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens(Vec<TokenEntry>);

/// The `sha256:<hex>` form of a token, as the router keeps it.
pub fn hash_token(token: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(token.as_bytes())))
}

/// Parses one entry, `<scope> sha256:<64 hex> [name]`.
pub fn parse_entry(line: &str) -> Result<TokenEntry, String> {
    let mut parts = line.split_whitespace();
    let (Some(scope), Some(hash)) = (parts.next(), parts.next()) else {
        return Err(format!(
            "{line:?} is not `<scope> sha256:<hex> [name]`; expected a scope (read, invoke, admin) and the token's hash (`revenant token new` prints both)"
        ));
    };
    let scope = Scope::parse(scope)
        .ok_or_else(|| format!("scope {scope:?} is not one of read, invoke, admin"))?;
    let digest = hash
        .strip_prefix("sha256:")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|d| <[u8; 32]>::try_from(d).ok())
        .ok_or_else(|| {
            "the token must be given as its hash, sha256:<64 hex digits> (tokens are never kept in plain text; `revenant token new` prints the hash)".to_owned()
        })?;
    let name = parts.collect::<Vec<_>>().join(" ");
    Ok(TokenEntry {
        hash: digest,
        scope,
        name: if name.is_empty() {
            format!("{}…", &hash[7..15])
        } else {
            name
        },
    })
}

impl Tokens {
    /// The entries of `list` and of `file` (blank lines and `#` comments skipped).
    pub fn load(list: &[String], file: Option<&Path>) -> Result<Tokens, Error> {
        let bad = |path: String, message: String| Error::Tokens { path, message };
        let mut entries = Vec::new();
        for e in list {
            entries.push(parse_entry(e).map_err(|m| bad("--token".into(), m))?);
        }
        if let Some(file) = file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| bad(file.display().to_string(), format!("cannot read it: {e}")))?;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                entries.push(
                    parse_entry(line)
                        .map_err(|m| bad(format!("{}:{}", file.display(), i + 1), m))?,
                );
            }
        }
        Ok(Tokens(entries))
    }

    /// Whether any token is configured (authentication is on).
    pub fn enabled(&self) -> bool {
        !self.0.is_empty()
    }

    /// The entry of a presented token, if it is one.
    pub fn find(&self, token: &str) -> Option<&TokenEntry> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Every entry is compared in full, whichever matches: no early exit on a prefix.
        let mut found = None;
        for e in &self.0 {
            let diff = e
                .hash
                .iter()
                .zip(digest)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(e);
            }
        }
        found
    }
}

/// The scope a request needs (`None`: open to everyone).
pub fn required(method: &Method, path: &str) -> Option<Scope> {
    // The console's page and assets hold no data: it asks for a token on its first API call.
    if matches!(path, "/" | "/healthz" | "/readyz") || path.starts_with("/console/") {
        return None;
    }
    let read = *method == Method::GET || *method == Method::HEAD;
    if path == "/metrics" || path == "/openapi.json" {
        return Some(Scope::Read);
    }
    let Some(v1) = path.strip_prefix("/v1/") else {
        // A user-defined API route: it invokes a worker function.
        return Some(Scope::Invoke);
    };
    if read {
        return Some(Scope::Read);
    }
    let segments: Vec<&str> = v1.split('/').collect();
    let invokes = *method == Method::POST
        && (matches!(
            segments.as_slice(),
            ["components", _, "workers", _, "invoke" | "enqueue", _]
        ) || matches!(segments.as_slice(), ["promises", _, _, _, "complete"]));
    Some(if invokes { Scope::Invoke } else { Scope::Admin })
}

/// The token a request presents: `Authorization: Bearer …`, else `?access_token=…`.
fn presented(req: &Request) -> Option<String> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "access_token").then(|| percent_decode(v))
    })
}

/// `%XX` and `+` decoding of a query value (tokens are URL-safe; this is for robustness).
fn percent_decode(v: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex(bytes[i + 1])? * 16 + hex(bytes[i + 2])?))
            .flatten();
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the router answers a request given its tokens: `Ok` to serve it.
pub fn check(
    tokens: &Tokens,
    method: &Method,
    path: &str,
    token: Option<&str>,
) -> Result<(), ApiError> {
    if !tokens.enabled() {
        return Ok(());
    }
    let Some(needed) = required(method, path) else {
        return Ok(());
    };
    let Some(token) = token else {
        return Err(ApiError::from_kind(
            ErrorKind::Unauthorized,
            format!(
                "{method} {path} needs a token with scope {} or more; send it as `Authorization: Bearer <token>`",
                needed.as_str()
            ),
        ));
    };
    let Some(entry) = tokens.find(token) else {
        return Err(ApiError::from_kind(
            ErrorKind::Unauthorized,
            "the bearer token is not one this router accepts; expected a token from `revenant token new` whose hash is configured (--token / --token-file)",
        ));
    };
    if entry.scope < needed {
        return Err(ApiError::from_kind(
            ErrorKind::Forbidden,
            format!(
                "token {:?} has scope {}; {method} {path} needs scope {}",
                entry.name,
                entry.scope.as_str(),
                needed.as_str()
            ),
        ));
    }
    Ok(())
}

/// The middleware: answers 401/403 per [`check`], or serves the request.
pub async fn require(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let token = presented(&req);
    match check(
        state.tokens(),
        req.method(),
        req.uri().path(),
        token.as_deref(),
    ) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            let unauthorized = e.kind == ErrorKind::Unauthorized;
            let mut response = e.into_response();
            if unauthorized {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        let line = |scope: &str, token: &str, name: &str| {
            parse_entry(&format!("{scope} {} {name}", hash_token(token))).unwrap()
        };
        Tokens(vec![
            line("read", "r-token", "dashboards"),
            line("invoke", "i-token", "ci"),
            line("admin", "a-token", "ops"),
        ])
    }

    #[test]
    fn without_tokens_everything_is_served() {
        assert!(check(&Tokens::default(), &Method::DELETE, "/v1/apis/x", None).is_ok());
    }

    #[test]
    fn health_and_the_console_page_and_assets_stay_open() {
        for p in ["/healthz", "/readyz", "/", "/console/app.js"] {
            assert!(check(&tokens(), &Method::GET, p, None).is_ok(), "{p}");
        }
    }

    #[test]
    fn a_missing_or_unknown_token_is_unauthorized_and_says_how_to_send_one() {
        let e = check(&tokens(), &Method::GET, "/v1/workers", None).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.kind.clone()),
            (401, ErrorKind::Unauthorized)
        );
        assert!(e.message.contains("Authorization: Bearer"), "{}", e.message);
        let e = check(&tokens(), &Method::GET, "/v1/workers", Some("guess")).unwrap_err();
        assert_eq!(e.status.as_u16(), 401);
    }

    #[test]
    fn scopes_allow_what_they_name_and_nothing_bigger() {
        let t = tokens();
        let invoke = "/v1/components/c/workers/w/invoke/add";
        let complete = "/v1/promises/c/w/3/complete";
        let upload = "/v1/components/c";
        let cases = [
            (Method::GET, "/v1/workers", [true, true, true]),
            (Method::GET, "/metrics", [true, true, true]),
            (Method::POST, invoke, [false, true, true]),
            (Method::POST, complete, [false, true, true]),
            (Method::POST, "/shop/orders", [false, true, true]),
            (Method::POST, upload, [false, false, true]),
            (
                Method::DELETE,
                "/v1/components/c/workers/w",
                [false, false, true],
            ),
            (
                Method::POST,
                "/v1/components/c/workers/w/interrupt",
                [false, false, true],
            ),
            (Method::POST, "/v1/apis", [false, false, true]),
        ];
        for (method, path, allowed) in cases {
            for (token, ok) in ["r-token", "i-token", "a-token"].iter().zip(allowed) {
                let r = check(&t, &method, path, Some(token));
                assert_eq!(r.is_ok(), ok, "{method} {path} with {token}: {r:?}");
                if let Err(e) = r {
                    assert_eq!(e.status.as_u16(), 403);
                    assert!(e.message.contains("needs scope"), "{}", e.message);
                }
            }
        }
    }

    #[test]
    fn a_plain_token_in_the_configuration_is_refused() {
        let e = parse_entry("admin hunter2").unwrap_err();
        assert!(e.contains("sha256:"), "{e}");
        assert!(parse_entry("root sha256:00").is_err());
    }

    #[test]
    fn query_tokens_are_decoded() {
        assert_eq!(percent_decode("a%2Bb+c"), "a+b c");
        assert_eq!(percent_decode("abc%"), "abc%");
    }
}
