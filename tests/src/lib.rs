//! Helpers for the end-to-end tests: a browser with one cookie jar for the whole federation,
//! every `*.localhost` host name mapped to this machine.

pub mod cpu;
pub mod fault_federation;
pub mod processes;
pub mod sentinels;
pub mod stack;
pub mod world;

use std::net::SocketAddr;

use federation::{Demo, Federation, Options};

pub use federation::DEMO_PASSWORD;

/// Starts the demo federation on free ports in a temporary folder.
pub async fn start(with_idp: bool) -> (Federation, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let demo = Demo::parse(federation::DEMO).expect("the built-in demo parses");
    let options = Options {
        data_dir: dir.path().to_path_buf(),
        fixed_ports: false,
        with_idp,
        ..Options::default()
    };
    let running = federation::start(&demo, &options)
        .await
        .expect("the federation starts");
    (running, dir)
}

/// Starts a federation from a demo text, on PostgreSQL and Redis when TEST_DATABASE_URL and
/// TEST_REDIS_URL name them (failing if they are not there), with quick delivery retries.
pub async fn start_custom(
    demo_text: &str,
    adjust: impl FnOnce(&mut Options),
) -> (Federation, tempfile::TempDir) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let demo = Demo::parse(demo_text).expect("the demo parses");
    let mut database_urls = std::collections::HashMap::new();
    let services =
        std::iter::once("idp".to_owned()).chain(demo.institution.iter().map(|i| i.id.clone()));
    for service in services {
        if let Some(url) = stack::fresh_database(&format!("fed_test_{service}")).await {
            database_urls.insert(service, url);
        }
    }
    let mut options = Options {
        data_dir: dir.path().to_path_buf(),
        fixed_ports: false,
        with_idp: true,
        database_urls,
        redis_url: std::env::var("TEST_REDIS_URL").ok(),
        quick_retries: true,
        ..Options::default()
    };
    adjust(&mut options);
    let running = federation::start(&demo, &options)
        .await
        .expect("the federation starts");
    (running, dir)
}

/// A browser for the Stack (everything on 127.0.0.1): one cookie jar, redirects followed.
pub fn browser_for_stack() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::limited(20))
        .build()
        .expect("a client")
}

/// A browser: one cookie jar, redirects followed, host names resolved to loopback.
pub fn browser(federation: &Federation) -> reqwest::Client {
    browser_with(
        federation,
        std::sync::Arc::new(reqwest::cookie::Jar::default()),
    )
}

/// A browser with a cookie jar the test can look into.
pub fn browser_with(
    federation: &Federation,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
) -> reqwest::Client {
    resolving(federation, jar)
        .redirect(reqwest::redirect::Policy::limited(10))
        .build()
        .expect("a client")
}

/// The same browser (its cookie jar) showing each redirect instead of following it.
pub fn browser_step_by_step(
    federation: &Federation,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
) -> reqwest::Client {
    resolving(federation, jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// Host names of the federation resolved to loopback.
fn resolving(
    federation: &Federation,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder().cookie_provider(jar);
    for node in &federation.nodes {
        builder = builder.resolve(&node.host, SocketAddr::from(([127, 0, 0, 1], node.port)));
    }
    if let Some(idp) = &federation.idp {
        builder = builder.resolve(&idp.host, SocketAddr::from(([127, 0, 0, 1], idp.port)));
    }
    if let Some(broker) = &federation.broker {
        builder = builder.resolve(
            &broker.host,
            SocketAddr::from(([127, 0, 0, 1], broker.port)),
        );
    }
    builder
}

pub use testkit::{hidden, submit_idp_login};

/// The value at `fraction` (0.5, 0.99) of sorted samples; NaN when there are none.
/// Runs one of tests/interop's Node.js scripts (`command` is `node <script>` with its
/// environment) and reads the one JSON line it prints; panics, with what it printed, when it
/// fails.
pub async fn run_node_script(command: &mut tokio::process::Command) -> serde_json::Value {
    let output = command
        .output()
        .await
        .expect("node runs: this test needs Node.js");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
}

pub fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (fraction * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Replaces the part of a report between `<!-- begin NAME -->` and `<!-- end NAME -->` (added at
/// the end when missing), so each benchmark harness rewrites only its own figures.
pub fn write_section(path: &str, name: &str, content: &str) -> std::io::Result<()> {
    let (begin, end) = (
        format!("<!-- begin {name} -->"),
        format!("<!-- end {name} -->"),
    );
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Performance\n".to_owned());
    let block = format!("{begin}\n{}\n{end}", content.trim_end());
    let new = match (old.find(&begin), old.find(&end)) {
        (Some(b), Some(e)) if e > b => format!("{}{block}{}", &old[..b], &old[e + end.len()..]),
        _ => format!("{}\n{block}\n", old.trim_end()),
    };
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, new)
}
