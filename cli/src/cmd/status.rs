//! `revenant status`: every live executor with the shards it holds and the
//! workers it has in memory, from the heartbeats in `RVN_EXECUTORS`.

use crate::NatsArgs;

#[derive(clap::Args)]
pub struct StatusArgs {
    /// Heartbeats older than this (ms) count as dead.
    #[arg(long, default_value_t = 3_000)]
    pub max_age_ms: u64,
    #[arg(long)]
    pub json: bool,
}

/// Compresses `[0,1,2,5,6]` into `0-2,5-6`.
fn ranges(shards: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = shards.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().unwrap_or(end);
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out.join(",")
}

pub async fn run(nats_args: NatsArgs, args: StatusArgs) -> anyhow::Result<()> {
    let nats = super::connect(&nats_args).await?;
    let live = nats.executors().live(args.max_age_ms).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&live)?);
        return Ok(());
    }
    let total: usize = live.iter().map(|e| e.shards.len()).sum();
    println!(
        "{} live executor(s), {total} of {} shards held",
        live.len(),
        nats.options().shards
    );
    for e in &live {
        println!(
            "  {}\t{} shards [{}]\t{} workers in memory\theartbeat {} ms ago",
            e.id,
            e.shards.len(),
            ranges(&e.shards),
            e.workers_in_memory,
            revenant_nats::lease::now_ms().saturating_sub(e.heartbeat_at)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn compresses_ranges() {
        assert_eq!(super::ranges(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(super::ranges(&[]), "");
    }
}
