//! `revenant new <lang> <name>` + `revenant deploy` as a user runs them: the
//! scaffolded Python and TypeScript projects build with the pinned tools, upload,
//! print how to invoke them, and (Python) answer through a real executor; a second
//! deploy of an unchanged build uploads nothing.

use std::process::{Command, Output};

use revenant_tests::NatsServer;
use revenant_tests::revenant::connect;
use serde_json::json;

use crate::common::{self, Executor};
use crate::languages::first_call;

fn revenant(url: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_revenant"))
        .args(["--nats", url])
        .args(args)
        .env("REVENANT_LOG", "warn")
        .output()
        .expect("run revenant");
    assert!(
        out.status.success(),
        "revenant {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_projects_build_deploy_and_answer() {
    let _alone = common::alone().await;
    let server = NatsServer::start();
    let nats = connect(&server.options()).await;
    let url = server.url();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().to_str().expect("utf-8 temp dir");

    for (lang, name) in [("python", "shop-py"), ("ts", "shop-ts")] {
        revenant(&url, &["new", lang, name, "--dir", dir]);
        let project = tmp.path().join(name);
        let project = project.to_str().expect("utf-8");
        let first = stdout(&revenant(&url, &["deploy", "--dir", project]));
        assert!(
            first.contains(&format!("{name}: uploaded version 1")),
            "{first}"
        );
        assert!(
            first.contains(&format!("revenant invoke {name}/<worker> add <value: u64>")),
            "{first}"
        );
        let again = stdout(&revenant(&url, &["deploy", "--dir", project, "--no-build"]));
        assert!(
            again.contains(&format!("{name}: unchanged, version 1")),
            "{again}"
        );
    }

    let _exec = Executor::spawn(&url, &[], "scaffold", tmp.path(), &[]);
    let answer = first_call(&nats, "shop-py/s1", "add", json!([5]), "k-1").await;
    assert_eq!(answer, Ok(json!(5)));
}
