//! HTTP clients for server-to-server calls: no redirects (SSRF), short timeouts, and `*.localhost`
//! names resolved to the loopback address as RFC 6761 §6.3 says, so the local federation's host
//! names work without touching /etc/hosts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

struct LocalhostAware;

impl Resolve for LocalhostAware {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            if host == "localhost" || host.ends_with(".localhost") {
                let addrs: Addrs = Box::new(std::iter::once(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    0,
                )));
                return Ok(addrs);
            }
            let found: Vec<SocketAddr> = tokio::task::spawn_blocking(move || {
                (host.as_str(), 0).to_socket_addrs().map(Iterator::collect)
            })
            .await
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?
            .map_err(|e: std::io::Error| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// A client builder with the project's defaults for calls between services.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(LocalhostAware))
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
}

/// The address a request came from: behind a trusted proxy the last `X-Forwarded-For` entry,
/// otherwise the connection's peer. None when the server was started without connection info.
pub fn client_addr(
    parts: &axum::http::request::Parts,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    if trust_forwarded_for {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The network an address is counted by when throttling: IPv6 clients rotate through their
/// /64, so that is one network; an IPv4 address is its own.
pub fn network_of(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Lower-case hex of the SHA-256 of `s`.
/// Only a path on this site may follow a sign-in or a switch: never another host.
pub fn local_path(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if ok { next } else { "/" }
}

/// The path of the page a link was clicked on (the browser sends `Referer` only within the
/// site), or "/".
pub fn referring_path(headers: &axum::http::HeaderMap) -> String {
    let path = headers
        .get(axum::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.parse::<axum::http::Uri>().ok())
        .and_then(|uri| uri.path_and_query().map(|p| p.as_str().to_owned()))
        .unwrap_or_else(|| "/".to_owned());
    local_path(&path).to_owned()
}

pub fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Completes on SIGTERM (how service managers and orchestrators stop a process) or Ctrl-C.
pub async fn termination() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "SIGTERM cannot be watched; Ctrl-C still stops");
            let _ = ctrl_c.await;
        }
    }
    tracing::info!("asked to stop");
}

/// Serves until `shutdown` completes, then stops accepting and lets the requests under way
/// finish for at most `grace`; then stops `workers` (each finishes its round, within what is
/// left of `grace`).
pub async fn serve_gracefully(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
    stop: crate::retry::StopWorkers,
    workers: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
) -> anyhow::Result<()> {
    let (signalled, on_signal) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = signalled.send(());
    });
    let mut server = tokio::spawn(async move { server.await });
    // The server may end at the same moment as the signal (nothing left to drain): whichever
    // comes first, the workers are stopped and waited for, so a delivery under way is finished
    // and recorded, never dropped with the process.
    let ended = tokio::select! {
        biased;
        _ = on_signal => None,
        finished = &mut server => Some(finished),
    };
    tracing::info!(
        grace_seconds = grace.as_secs(),
        "shutting down: finishing the requests under way"
    );
    let deadline = tokio::time::Instant::now() + grace;
    stop.stop();
    let finished = match ended {
        Some(finished) => Ok(finished),
        None => tokio::time::timeout_at(deadline, &mut server).await,
    };
    let served = match finished {
        Ok(finished) => finished
            .map_err(anyhow::Error::from)
            .and_then(|r| r.map_err(anyhow::Error::from)),
        Err(_) => {
            tracing::warn!("requests still under way at the end of the grace period: stopped");
            server.abort();
            Ok(())
        }
    };
    for (what, worker) in workers {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        crate::retry::join_within(what, worker, left.max(Duration::from_millis(100))).await;
    }
    tracing::info!("stopped");
    served
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn localhost_names_reach_the_loopback() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = s.read(&mut request).await;
            let _ = s
                .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .await;
        });
        let client = super::client_builder().build().unwrap();
        let r = client
            .get(format!("http://jpk.localhost:{port}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
}
