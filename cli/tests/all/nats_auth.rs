//! The `revenant` binary against a nats-server that requires credentials:
//! refused without them (the error says which flag to set), accepted with the
//! token from `NATS_TOKEN` or `--nats-token`, and with user/password from
//! `NATS_USER`/`NATS_PASSWORD`.

use std::process::{Command, Output};

use revenant_tests::NatsServer;

fn revenant(url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_revenant"))
        .args(["--nats", url])
        .args(args)
        .env("REVENANT_LOG", "warn")
        .env_remove("NATS_TOKEN")
        .env_remove("NATS_USER")
        .env_remove("NATS_PASSWORD")
        .envs(env.iter().copied())
        .output()
        .expect("run revenant")
}

#[test]
fn the_cli_needs_and_takes_nats_credentials() {
    let server = NatsServer::start_with_config(|_| "authorization { token: \"cli-token\" }".into());
    let url = server.url();
    let refused = revenant(&url, &["status"], &[]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("--nats-token"), "{err}");

    let by_env = revenant(&url, &["status"], &[("NATS_TOKEN", "cli-token")]);
    assert!(
        by_env.status.success(),
        "{}",
        String::from_utf8_lossy(&by_env.stderr)
    );
    let by_flag = revenant(&url, &["status", "--nats-token", "cli-token"], &[]);
    assert!(
        by_flag.status.success(),
        "{}",
        String::from_utf8_lossy(&by_flag.stderr)
    );

    let users = NatsServer::start_with_config(|_| {
        "authorization { users: [ { user: cli, password: \"cli-pw\" } ] }".into()
    });
    let env = [("NATS_USER", "cli"), ("NATS_PASSWORD", "cli-pw")];
    let ok = revenant(&users.url(), &["status"], &env);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let wrong = revenant(
        &users.url(),
        &["status"],
        &[("NATS_USER", "cli"), ("NATS_PASSWORD", "x")],
    );
    assert!(!wrong.status.success());
}
