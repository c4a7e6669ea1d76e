//! An executor's Prometheus endpoint, read as a test reads it: a free address to
//! give `--metrics-listen` (or `ExecutorConfig::metrics_listen`), and one sample's value.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback address nobody listens on right now, for an executor's metrics endpoint.
pub fn free_local_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").to_string()
}

/// The value of one sample (`name{labels} value`) of the `/metrics` page at `addr`,
/// or `None` when the endpoint does not answer or the sample is not there.
pub async fn metric(addr: &str, sample: &str) -> Option<f64> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut page = String::new();
    stream.read_to_string(&mut page).await.ok()?;
    page.lines().find_map(|l| {
        l.strip_prefix(sample)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
