//! `revenant router --nats <url> --listen <addr> [--api-file routes.yaml]…`:
//! runs the HTTP router against an existing NATS until Ctrl-C.

use std::path::PathBuf;

use revenant_router::RouterOptions;

use crate::NatsArgs;

#[derive(clap::Args, Clone)]
pub struct RouterArgs {
    /// Address to listen on.
    #[arg(long, env = "REVENANT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// API definition file (YAML or JSON) to deploy at start; repeatable.
    #[arg(long = "api-file")]
    pub api_files: Vec<PathBuf>,
    /// How long an invoke-and-await request waits before answering 202, ms.
    #[arg(long, env = "REVENANT_INVOKE_TIMEOUT_MS", default_value_t = 30_000)]
    pub invoke_timeout_ms: u64,
    /// How long an interrupt or resume waits for the executor holding the worker, ms.
    #[arg(long, env = "REVENANT_CONTROL_TIMEOUT_MS", default_value_t = 10_000)]
    pub control_timeout_ms: u64,
    /// An accepted bearer token, `<scope> sha256:<hex> [name]` (`revenant token new` prints it); repeatable.
    #[arg(long = "token", env = "REVENANT_ROUTER_TOKENS", value_delimiter = ',')]
    pub tokens: Vec<String>,
    /// A file of token entries, one per line (`#` comments).
    #[arg(long, env = "REVENANT_ROUTER_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

impl RouterArgs {
    pub fn options(&self) -> RouterOptions {
        RouterOptions {
            listen: self.listen.clone(),
            api_files: self.api_files.clone(),
            invoke_timeout_ms: self.invoke_timeout_ms,
            control_timeout_ms: self.control_timeout_ms,
            tokens: self.tokens.clone(),
            token_file: self.token_file.clone(),
            ..RouterOptions::default()
        }
    }
}

pub async fn run(nats_args: NatsArgs, args: RouterArgs) -> anyhow::Result<()> {
    let nats = super::connect(&nats_args).await?;
    eprintln!(
        "router listening on http://{} (NATS {})",
        args.listen, nats_args.nats
    );
    revenant_router::serve(args.options(), nats, super::shutdown_signal()).await?;
    Ok(())
}
