//! NATS credentials, TLS and accounts (ARCHITECTURE.md "Trust boundaries")
//! against real nats-servers configured to require them: each kind of
//! credentials (token, user/password, NKey seed inline and from a file, the same
//! in the URL) connects, an executor runs a worker over it, and a connection
//! without them or with wrong ones is refused with a hint; TLS with a CA and
//! client certificates (generated here) connects, and is refused without the CA
//! or the client certificate; two accounts isolate two tenants using the same
//! namespace (one never sees the other's oplog, streams or invocations).

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use revenant_nats::{Error, Nats};
use revenant_tests::NatsServer;
use revenant_tests::revenant::{TestExecutor, call, connect, deploy};
use revenant_types::config::{NatsAuth, NatsOptions};
use serde_json::json;

fn options(server: &NatsServer, auth: NatsAuth) -> NatsOptions {
    NatsOptions {
        auth,
        shards: 4,
        ..server.options()
    }
}

/// Connects with `auth`; the error's text when refused.
async fn try_connect(url: &str, auth: NatsAuth) -> Result<Nats, String> {
    let opts = NatsOptions {
        url: url.to_owned(),
        auth,
        shards: 4,
        ..NatsOptions::default()
    };
    // A refused connection retries nothing: Nats::connect fails on the first attempt.
    match tokio::time::timeout(Duration::from_secs(20), Nats::connect(&opts)).await {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => {
            assert!(
                matches!(e, Error::Connect { .. } | Error::Credentials { .. }),
                "{e:?}"
            );
            Err(e.to_string())
        }
        Err(_) => Err("timed out".into()),
    }
}

/// Runs an executor over `nats` and calls a worker through it.
async fn runs_a_worker(nats: &Nats) {
    deploy(nats, "counter", revenant_guests::COUNTER).await;
    let exec = TestExecutor::start(nats);
    common::ready(nats).await;
    assert_eq!(
        call(nats, "counter/auth", "add", json!([2])).await,
        Ok(json!(2))
    );
    exec.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_is_required_and_accepted_from_options_and_the_url() {
    let server =
        NatsServer::start_with_config(|_| "authorization { token: \"s3cret-token\" }".into());
    let url = server.url();
    let token = |t: &str| NatsAuth {
        token: Some(t.into()),
        ..NatsAuth::default()
    };

    let none = try_connect(&url, NatsAuth::default()).await.unwrap_err();
    assert!(none.contains("--nats-token"), "{none}");
    let wrong = try_connect(&url, token("guess")).await.unwrap_err();
    assert!(wrong.contains("refused the credentials"), "{wrong}");
    assert!(
        !wrong.contains("guess"),
        "the error never prints a secret: {wrong}"
    );

    let in_url = url.replace("nats://", "nats://s3cret-token@");
    let nats = try_connect(&in_url, NatsAuth::default()).await.unwrap();
    drop(nats);
    let nats = connect(&options(&server, token("s3cret-token"))).await;
    runs_a_worker(&nats).await;
    println!(
        "token: none -> refused, wrong -> refused, in URL -> ok, option -> ok (executor ran a worker)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn users_with_passwords_and_nkeys_are_required_and_accepted() {
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().unwrap();
    let public = user.public_key();
    let server = NatsServer::start_with_config(|_| {
        format!(
            "authorization {{ users: [ {{ user: alice, password: \"pw-alice\" }}, {{ nkey: {public} }} ] }}"
        )
    });
    let url = server.url();
    let seed_file = server.dir().join("user.nk");
    std::fs::write(&seed_file, format!("{seed}\n")).unwrap();
    let pw = |u: &str, p: &str| NatsAuth {
        user: Some(u.into()),
        password: Some(p.into()),
        ..NatsAuth::default()
    };
    let nkey = |n: String| NatsAuth {
        nkey: Some(n),
        ..NatsAuth::default()
    };

    let none = try_connect(&url, NatsAuth::default()).await.unwrap_err();
    assert!(none.contains("refused the credentials"), "{none}");
    try_connect(&url, pw("alice", "nope")).await.unwrap_err();
    let other = nkeys::KeyPair::new_user().seed().unwrap();
    try_connect(&url, nkey(other)).await.unwrap_err();
    let half = try_connect(
        &url,
        NatsAuth {
            user: Some("alice".into()),
            ..NatsAuth::default()
        },
    )
    .await
    .unwrap_err();
    assert!(half.contains("expected both"), "{half}");

    try_connect(
        &url.replace("nats://", "nats://alice:pw-alice@"),
        NatsAuth::default(),
    )
    .await
    .unwrap();
    try_connect(&url, nkey(seed_file.display().to_string()))
        .await
        .unwrap();
    try_connect(&url, nkey(seed.clone())).await.unwrap();
    let nats = connect(&options(&server, pw("alice", "pw-alice"))).await;
    runs_a_worker(&nats).await;
    println!(
        "user/password and nkey: none, wrong password, unknown nkey, user without password -> refused; URL, seed, seed file, option -> ok"
    );
}

/// A CA, and a server and a client certificate it signed, as PEM files in `dir`:
/// `(ca, server cert, server key, client cert, client key)`.
fn certificates(dir: &Path) -> [PathBuf; 5] {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names: a leaf named like its issuer looks self-signed.
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "revenant test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names[names.len() - 1].as_str());
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()]);
    let (client_cert, client_key) = leaf(vec!["revenant-client".into()]);
    let files = [
        ("ca.pem", ca.pem()),
        ("server.pem", server_cert),
        ("server-key.pem", server_key),
        ("client.pem", client_cert),
        ("client-key.pem", client_key),
    ];
    files.map(|(name, pem)| {
        let p = dir.join(name);
        std::fs::write(&p, pem).unwrap();
        p
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_a_ca_and_client_certificates_is_required_and_accepted() {
    let mut files = None;
    let server = NatsServer::start_with_config(|dir| {
        let f = certificates(dir);
        let conf = format!(
            "tls {{ cert_file: {:?}, key_file: {:?}, ca_file: {:?}, verify: true, timeout: 5 }}",
            f[1].display().to_string(),
            f[2].display().to_string(),
            f[0].display().to_string()
        );
        files = Some(f);
        conf
    });
    let [ca, _, _, cert, key] = files.unwrap();

    let url = server.url();
    let tls = |ca: Option<&PathBuf>, client: bool| NatsAuth {
        tls_ca: ca.cloned(),
        tls_cert: client.then(|| cert.clone()),
        tls_key: client.then(|| key.clone()),
        ..NatsAuth::default()
    };

    let plain = try_connect(&url, NatsAuth::default()).await.unwrap_err();
    println!("TLS: no TLS -> {plain}");
    let unknown_ca = try_connect(&url, tls(None, true)).await.unwrap_err();
    assert!(unknown_ca.contains("TLS"), "{unknown_ca}");
    let no_client = try_connect(&url, tls(Some(&ca), false)).await.unwrap_err();
    println!("TLS: CA without client certificate -> {no_client}");
    let half = try_connect(
        &url,
        NatsAuth {
            tls_cert: Some(cert.clone()),
            ..NatsAuth::default()
        },
    )
    .await
    .unwrap_err();
    assert!(half.contains("expected both"), "{half}");

    let nats = connect(&options(&server, tls(Some(&ca), true))).await;
    runs_a_worker(&nats).await;
    println!(
        "TLS: none, unknown CA, no client certificate, cert without key -> refused; CA + client certificate -> ok"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_accounts_isolate_two_tenants_of_the_same_namespace() {
    let server = NatsServer::start_with_config(|_| {
        "accounts {\n\
           TENANT_A { jetstream: enabled, users: [ { user: a, password: pa } ] }\n\
           TENANT_B { jetstream: enabled, users: [ { user: b, password: pb } ] }\n\
         }"
        .into()
    });
    let as_user = |u: &str, p: &str| {
        options(
            &server,
            NatsAuth {
                user: Some(u.into()),
                password: Some(p.into()),
                ..NatsAuth::default()
            },
        )
    };
    let a = connect(&as_user("a", "pa")).await;
    // Tenant B watches every subject it can see before A does anything.
    let b_raw = Nats::connect(&as_user("b", "pb")).await.unwrap();
    let mut seen_by_b = b_raw.client().subscribe(">").await.unwrap();
    b_raw.flush().await.unwrap();

    deploy(&a, "counter", revenant_guests::COUNTER).await;
    let exec = TestExecutor::start(&a);
    common::ready(&a).await;
    assert_eq!(
        call(&a, "counter/secret", "add", json!([4242])).await,
        Ok(json!(4242))
    );
    assert!(!common::oplog(&a, "counter/secret").await.is_empty());

    // Nothing A published (invocations, oplog appends, results, events) reached B: what B
    // received by now is drained (A's traffic was delivered while the call ran).
    a.flush().await.unwrap();
    b_raw.flush().await.unwrap();
    let leaked = tokio::time::timeout(Duration::from_millis(300), seen_by_b.next()).await;
    assert!(
        leaked.is_err(),
        "B saw {:?}",
        leaked.unwrap().map(|m| m.subject)
    );
    drop(seen_by_b);
    // B cannot see A's streams at all: JetStream of account B has none of them.
    let oplog_stream = b_raw.namespace().oplog_stream();
    assert!(b_raw.jetstream().get_stream(&oplog_stream).await.is_err());
    // B provisions its own namespace of the same name: A's worker is not in it, and an
    // invocation B publishes to the same subject never reaches A's executor.
    let b = connect(&as_user("b", "pb")).await;
    let w = common::worker("counter/secret");
    assert!(b.oplog().read(&w, 1).await.unwrap().entries.is_empty());
    let published = b
        .publish_invocation(
            &w,
            &revenant_nats::invocations::InvocationRequest {
                function: "add".into(),
                body: "[1]".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(published.sequence, 1, "stored in B's own stream");
    assert_eq!(
        call(&a, "counter/secret", "add", json!([0])).await,
        Ok(json!(4242))
    );
    exec.stop().await;
    println!(
        "accounts: B saw no subject of A's, has no RVN_OPLOG of A's, its invocation stayed in its own stream"
    );
}

/// A NATS JWT (`ed25519-nkey`) of `claims`, signed by `issuer`.
fn jwt(issuer: &nkeys::KeyPair, subject: &str, name: &str, nats: &serde_json::Value) -> String {
    use base64::Engine;
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = json!({
        "jti": uuid::Uuid::new_v4().simple().to_string().to_uppercase(),
        "iat": 1_700_000_000u64,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let payload = b64(claims.to_string().as_bytes());
    let signed = format!("{header}.{payload}");
    let signature = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", b64(&signature))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_creds_file_of_an_operator_deployment_is_accepted_and_required() {
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    // JetStream needs a system account in operator mode.
    let system = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let unlimited = json!({ "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1 });
    let op_jwt = jwt(
        &operator,
        &operator.public_key(),
        "op",
        &json!({ "type": "operator", "version": 2 }),
    );
    let acc_jwt = jwt(
        &operator,
        &account.public_key(),
        "tenant",
        &json!({ "limits": unlimited, "type": "account", "version": 2 }),
    );
    let sys_jwt = jwt(
        &operator,
        &system.public_key(),
        "SYS",
        &json!({ "limits": unlimited, "type": "account", "version": 2 }),
    );
    let user_jwt = jwt(
        &account,
        &user.public_key(),
        "executor",
        &json!({ "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2 }),
    );
    let server = NatsServer::start_with_config(|_| {
        format!(
            "operator: {op_jwt}\nsystem_account: {sys}\nresolver: MEMORY\n\
             resolver_preload: {{ {acc}: {acc_jwt}, {sys}: {sys_jwt} }}",
            acc = account.public_key(),
            sys = system.public_key()
        )
    });
    let creds = server.dir().join("executor.creds");
    std::fs::write(
        &creds,
        format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().unwrap()
        ),
    )
    .unwrap();
    let url = server.url();
    try_connect(&url, NatsAuth::default()).await.unwrap_err();
    let missing = try_connect(
        &url,
        NatsAuth {
            creds: Some(server.dir().join("none.creds")),
            ..NatsAuth::default()
        },
    )
    .await
    .unwrap_err();
    assert!(missing.contains("expected a .creds file"), "{missing}");
    let nats = try_connect(
        &url,
        NatsAuth {
            creds: Some(creds),
            ..NatsAuth::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    // The connection works: a round trip through the server.
    nats.flush().await.unwrap();
    let mut sub = nats.client().subscribe("probe").await.unwrap();
    nats.client().publish("probe", "x".into()).await.unwrap();
    assert_eq!(sub.next().await.unwrap().payload.as_ref(), b"x");
    println!(".creds: none -> refused, missing file -> clear error, user JWT + seed -> ok");
}
