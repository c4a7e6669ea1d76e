//! `revenant token new --scope <read|invoke|admin> [--name <n>]`: makes a
//! router bearer token. Prints the token (give it to the caller; it is shown
//! once) and the entry the router keeps — its SHA-256, never the token — for
//! `--token` or a line of `--token-file`.

use revenant_router::auth::{Scope, hash_token};

#[derive(clap::Subcommand)]
pub enum TokenCmd {
    /// Make a new token and print it with its router entry.
    New {
        /// What it allows: read, invoke or admin.
        #[arg(long, default_value = "read")]
        scope: String,
        /// A name for logs and refusals.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Print the router entry of an existing token (read from stdin).
    Hash {
        #[arg(long, default_value = "read")]
        scope: String,
        #[arg(long, default_value = "")]
        name: String,
    },
}

pub fn run(cmd: TokenCmd) -> anyhow::Result<()> {
    let (scope, name, token) = match cmd {
        TokenCmd::New { scope, name } => {
            let bytes: [u8; 32] = rand::random();
            (scope, name, format!("rvn_{}", hex::encode(bytes)))
        }
        TokenCmd::Hash { scope, name } => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            (scope, name, line.trim().to_owned())
        }
    };
    let scope = Scope::parse(&scope)
        .ok_or_else(|| anyhow::anyhow!("scope {scope:?} is not one of read, invoke, admin"))?;
    anyhow::ensure!(!token.is_empty(), "expected a token on stdin");
    println!("token: {token}");
    println!("entry: {} {} {}", scope.as_str(), hash_token(&token), name);
    Ok(())
}
