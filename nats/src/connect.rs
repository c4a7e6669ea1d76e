//! How every process connects to NATS: the credentials and TLS of
//! [`NatsAuth`] turned into async-nats [`ConnectOptions`], so the executor, the
//! router, the CLI and the bench connect the same way ([`crate::Nats::connect`]).
//! It does not decide what a deployment requires; nats-server does, and a
//! refusal comes back as [`Error::Connect`] with a hint of what to check.
//!
//! Credentials: a token, a user and password, an NKey seed (inline or a file)
//! or a `.creds` file, at most one of them; a URL's own credentials
//! (`nats://user:pass@host`, `nats://token@host`, read here because the client
//! library does not send them) count as user/password or token. TLS: a CA file,
//! a client certificate and key, and `tls-required`; a `tls://` URL asks for TLS
//! too. It also reports reconnects to [`Reconnects`] (the executor then looks for
//! messages that broke the connection, see [`crate::quarantine`]).

use std::sync::Arc;

use async_nats::{ConnectErrorKind, ConnectOptions, Event};
use revenant_types::config::{NatsAuth, NatsOptions};
use tokio::sync::watch;

use crate::error::{Error, Result};

/// How many times the connection was re-established (0 until the first reconnect).
pub type Reconnects = watch::Receiver<u64>;

/// Credentials found in a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlCredentials {
    Token(String),
    UserPassword(String, String),
}

/// The URL without its credentials, and those credentials.
pub fn split_url_credentials(url: &str) -> (String, Option<UrlCredentials>) {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_owned(), None);
    };
    let userinfo = &rest[..at];
    let clean = match scheme {
        Some(s) => format!("{s}://{}", &rest[at + 1..]),
        None => rest[at + 1..].to_owned(),
    };
    let creds = match userinfo.split_once(':') {
        Some((u, p)) => UrlCredentials::UserPassword(u.to_owned(), p.to_owned()),
        None => UrlCredentials::Token(userinfo.to_owned()),
    };
    (clean, Some(creds))
}

/// The URLs of `opts.url` (comma separated) without credentials, for connecting and
/// for error messages.
pub fn clean_urls(url: &str) -> Vec<String> {
    url.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| split_url_credentials(u).0)
        .collect()
}

/// What to check after a failed connect, by its kind (a certificate the client
/// refuses surfaces as an IO error: with TLS configured, that is the likely cause).
pub fn hint(kind: ConnectErrorKind, tls_configured: bool) -> &'static str {
    match kind {
        ConnectErrorKind::Io if tls_configured => {
            "the connection failed with TLS configured: check --nats-tls-ca (the CA the server's certificate chains to) and, if the server verifies clients, --nats-tls-cert/--nats-tls-key"
        }
        ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
            "the server refused the credentials: set the ones it requires (--nats-token, --nats-user/--nats-password, --nats-nkey, --nats-creds, or in the URL)"
        }
        ConnectErrorKind::Tls => {
            "the TLS handshake failed: check --nats-tls-ca (the CA the server's certificate chains to) and, if the server verifies clients, --nats-tls-cert/--nats-tls-key"
        }
        _ => {
            "is nats-server running (with -js) and is the URL right? (a server that requires TLS needs --nats-tls-ca)"
        }
    }
}

/// The async-nats options for `opts`, and the URLs to connect to; reconnects are
/// counted into `reconnects`.
pub async fn connect_options(
    opts: &NatsOptions,
    reconnects: Arc<watch::Sender<u64>>,
) -> Result<(ConnectOptions, Vec<String>)> {
    let auth = &opts.auth;
    let mut url_creds = None;
    for u in opts.url.split(',') {
        if let (_, Some(c)) = split_url_credentials(u.trim()) {
            url_creds.get_or_insert(c);
        }
    }
    let chosen = [
        auth.token.is_some(),
        auth.user.is_some() || auth.password.is_some(),
        auth.nkey.is_some(),
        auth.creds.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if chosen > 1 {
        return Err(Error::Credentials {
            what: "credentials",
            message:
                "more than one of token, user/password, nkey and creds is set; expected at most one"
                    .into(),
        });
    }
    let mut o = ConnectOptions::new()
        .name("revenant")
        .event_callback(move |event| {
            let reconnects = reconnects.clone();
            async move {
                if let Event::Connected = event {
                    reconnects.send_modify(|n| *n += 1);
                }
            }
        });
    o = with_credentials(o, auth, url_creds).await?;
    o = with_tls(o, auth)?;
    Ok((o, clean_urls(&opts.url)))
}

async fn with_credentials(
    o: ConnectOptions,
    auth: &NatsAuth,
    url_creds: Option<UrlCredentials>,
) -> Result<ConnectOptions> {
    if let Some(t) = &auth.token {
        return Ok(o.token(t.clone()));
    }
    if auth.user.is_some() || auth.password.is_some() {
        let (Some(u), Some(p)) = (&auth.user, &auth.password) else {
            return Err(Error::Credentials {
                what: "user and password",
                message: "only one of the two is set; expected both".into(),
            });
        };
        return Ok(o.user_and_password(u.clone(), p.clone()));
    }
    if let Some(n) = &auth.nkey {
        let seed = if n.trim_start().starts_with('S') && !std::path::Path::new(n).exists() {
            n.trim().to_owned()
        } else {
            std::fs::read_to_string(n)
                .map_err(|e| Error::Credentials {
                    what: "nkey",
                    message: format!("cannot read the seed file {n:?}: {e}; expected an NKey user seed (SU…) or a file holding one"),
                })?
                .trim()
                .to_owned()
        };
        return Ok(o.nkey(seed));
    }
    if let Some(path) = &auth.creds {
        return o
            .credentials_file(path)
            .await
            .map_err(|e| Error::Credentials {
                what: "creds",
                message: format!(
                    "cannot use the credentials file {}: {e}; expected a .creds file (user JWT and NKey seed) as `nsc` writes it",
                    path.display()
                ),
            });
    }
    Ok(match url_creds {
        Some(UrlCredentials::Token(t)) => o.token(t),
        Some(UrlCredentials::UserPassword(u, p)) => o.user_and_password(u, p),
        None => o,
    })
}

fn with_tls(mut o: ConnectOptions, auth: &NatsAuth) -> Result<ConnectOptions> {
    let readable = |what: &'static str, p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|_| ())
            .map_err(|e| Error::Credentials {
                what,
                message: format!("cannot read {}: {e}; expected a PEM file", p.display()),
            })
    };
    if let Some(ca) = &auth.tls_ca {
        readable("tls-ca", ca)?;
        o = o.add_root_certificates(ca.clone()).require_tls(true);
    }
    match (&auth.tls_cert, &auth.tls_key) {
        (Some(cert), Some(key)) => {
            readable("tls-cert", cert)?;
            readable("tls-key", key)?;
            o = o
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        (None, None) => {}
        _ => {
            return Err(Error::Credentials {
                what: "client certificate",
                message: "only one of tls-cert and tls-key is set; expected both".into(),
            });
        }
    }
    if auth.tls_required {
        o = o.require_tls(true);
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_taken_out_of_it() {
        assert_eq!(
            split_url_credentials("nats://alice:s3cret@127.0.0.1:4222"),
            (
                "nats://127.0.0.1:4222".to_owned(),
                Some(UrlCredentials::UserPassword(
                    "alice".into(),
                    "s3cret".into()
                ))
            )
        );
        assert_eq!(
            split_url_credentials("tls://tok@host:4222"),
            (
                "tls://host:4222".to_owned(),
                Some(UrlCredentials::Token("tok".into()))
            )
        );
        assert_eq!(
            split_url_credentials("nats://host:4222"),
            ("nats://host:4222".to_owned(), None)
        );
    }

    #[test]
    fn urls_in_errors_carry_no_credentials() {
        assert_eq!(
            clean_urls("nats://a:b@h1:1, nats://t@h2:2"),
            vec!["nats://h1:1".to_owned(), "nats://h2:2".to_owned()]
        );
    }

    #[tokio::test]
    async fn two_kinds_of_credentials_at_once_are_refused() {
        let mut opts = NatsOptions::default();
        opts.auth.token = Some("t".into());
        opts.auth.user = Some("u".into());
        opts.auth.password = Some("p".into());
        let (tx, _rx) = watch::channel(0);
        let e = connect_options(&opts, Arc::new(tx)).await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::Credentials {
                    what: "credentials",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_user_without_a_password_is_refused() {
        let mut opts = NatsOptions::default();
        opts.auth.user = Some("u".into());
        let (tx, _rx) = watch::channel(0);
        let e = connect_options(&opts, Arc::new(tx)).await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::Credentials {
                    what: "user and password",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_debug_print_of_the_options_shows_no_secret() {
        let auth = NatsAuth {
            token: Some("hunter2".into()),
            ..NatsAuth::default()
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}
