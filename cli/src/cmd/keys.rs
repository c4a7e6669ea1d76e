//! `revenant keys new --file <keyring>` and `revenant keys rotate --file
//! <keyring>`: the keyring of encryption at rest (README "Security"). `new`
//! creates a keyring with one key; `rotate` appends a key, which encrypts every
//! new write from the next start on, and keeps the old ones, which still decrypt
//! what they sealed. Nothing stored is re-encrypted. The file is created
//! readable by its owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

#[derive(clap::Subcommand)]
pub enum KeysCmd {
    /// Create a keyring file holding one new key.
    New {
        #[arg(long)]
        file: PathBuf,
        /// The key's id (default: k1).
        #[arg(long, default_value = "k1")]
        id: String,
    },
    /// Append a new key (the one new writes use); old keys stay for reading.
    Rotate {
        #[arg(long)]
        file: PathBuf,
        /// The new key's id (default: k<number of keys + 1>).
        #[arg(long)]
        id: Option<String>,
    },
}

pub fn run(cmd: KeysCmd) -> anyhow::Result<()> {
    match cmd {
        KeysCmd::New { file, id } => {
            anyhow::ensure!(
                !file.exists(),
                "{} exists; use `revenant keys rotate` to add a key to it",
                file.display()
            );
            append(&file, &id)
        }
        KeysCmd::Rotate { file, id } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading the keyring {}", file.display()))?;
            let ring = revenant_nats::seal::Keyring::parse(&text)?;
            let count = text
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
                .count();
            let id = id.unwrap_or_else(|| format!("k{}", count + 1));
            eprintln!("previous active key: {}", ring.active_id());
            append(&file, &id)
        }
    }
}

fn append(file: &Path, id: &str) -> anyhow::Result<()> {
    let line = revenant_nats::seal::new_key_line(id)?;
    let mut text = std::fs::read_to_string(file).unwrap_or_default();
    text.push_str(&line);
    text.push('\n');
    revenant_nats::seal::Keyring::parse(&text)?;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(file)
        .with_context(|| format!("writing the keyring {}", file.display()))?;
    writeln!(f, "{line}")?;
    eprintln!(
        "active key: {id} (in {}); restart executors and routers to use it",
        file.display()
    );
    Ok(())
}
