//! logout-fanout: how long one sign-out takes to reach every node. An IdP session with
//! participants at N simulated school nodes (HTTP receivers on 127.0.0.1 that note when their
//! back-channel logout token arrives) is ended through the IdP's end-session endpoint; the time
//! from sending that request to the last node's token is one sample. Writes its section of
//! docs/PERFORMANCE.md. A benchmark, not a test: it asserts nothing and is run by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::post;
use clap::Parser;
use federation_tests::percentile;
use idp::oidc::acr::Acr;
use idp::service::random_token;
use idp::service::sessions::SignedInAccount;
use tokio::sync::mpsc;

#[derive(Parser)]
#[command(about = "Measures back-channel logout fan-out from one sign-out to N nodes")]
struct Args {
    /// Numbers of nodes to measure.
    #[arg(long, value_delimiter = ',', default_value = "10,100")]
    nodes: Vec<usize>,
    /// Sign-outs measured per number of nodes.
    #[arg(long, default_value_t = 50)]
    rounds: usize,
    /// Where to write the report; nothing is written when empty.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    out: String,
}

/// A node that only receives logout tokens and reports their arrival.
async fn receiver(index: usize, arrived: mpsc::UnboundedSender<usize>) -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("a free port");
    let url = format!(
        "http://127.0.0.1:{}/sso/backchannel-logout",
        listener.local_addr().expect("an address").port()
    );
    let app = axum::Router::new().route(
        "/sso/backchannel-logout",
        post(move |body: String| {
            let arrived = arrived.clone();
            async move {
                if body.starts_with("logout_token=") {
                    let _ = arrived.send(index);
                }
                ""
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn measure(n: usize, rounds: usize) -> anyhow::Result<Vec<f64>> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut clients = Vec::new();
    for i in 0..n {
        let uri = receiver(i, tx.clone()).await;
        clients.push(idp::config::ClientConfig {
            client_id: format!("node{i}"),
            name: format!("Kool {i}"),
            secret_hash: Some(idp::config::hash_secret("s")),
            redirect_uris: vec![format!("http://127.0.0.1:9/cb{i}")],
            backchannel_logout_uri: Some(uri),
            ..Default::default()
        });
    }
    let dir = tempfile::tempdir()?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let config = idp::Config {
        issuer: issuer.clone(),
        data_dir: dir.path().join("idp"),
        clients,
        ..Default::default()
    };
    let app = idp::Application::build_on(config, listener).await?;
    let state = app.state().clone();
    tokio::spawn(app.run());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds + 3 {
        let now = shared::jwt::now();
        let mut session = state.sessions.start();
        for i in 0..n {
            let id = format!("node{i}");
            session.accounts.insert(
                id.as_str().into(),
                SignedInAccount {
                    sub: format!("account-{i}").into(),
                    claims: Default::default(),
                    auth_time: now,
                    amr: vec!["pwd".into()],
                    acr: Acr::Low,
                    via_link: None,
                },
            );
            session.participants.insert(id.into());
        }
        let cookie = random_token();
        state.sessions.save(&cookie, &session).await?;
        while rx.try_recv().is_ok() {}

        // No id_token_hint: the IdP asks first; the time counts from pressing the button.
        let question = http
            .get(format!("{issuer}/logout?client_id=node0"))
            .header("cookie", format!("idp_session={cookie}"))
            .send()
            .await?;
        let browser_cookie = question
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|c| c.to_str().ok()?.split(';').next().map(str::to_owned))
            .find(|c| c.starts_with("idp_browser="))
            .ok_or_else(|| anyhow::anyhow!("no browser cookie on the confirmation page"))?;
        let fields = testkit::hidden_fields(&question.text().await?);
        let started = Instant::now();
        let answer = http
            .post(format!("{issuer}/logout/confirm"))
            .header("cookie", format!("idp_session={cookie}; {browser_cookie}"))
            .form(&fields)
            .send()
            .await?;
        anyhow::ensure!(
            answer.status().is_success(),
            "sign-out answered {}",
            answer.status()
        );
        let mut told = BTreeSet::new();
        while told.len() < n {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(i)) => {
                    told.insert(i);
                }
                _ => anyhow::bail!("only {} of {n} nodes were told", told.len()),
            }
        }
        // The first rounds warm up connections and the database.
        if round >= 3 {
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rows = BTreeMap::new();
    for &n in &args.nodes {
        let samples = measure(n, args.rounds).await?;
        let row = format!(
            "| {n} | {} | {:.1} | {:.1} | {:.1} |",
            samples.len(),
            percentile(&samples, 0.5),
            percentile(&samples, 0.99),
            samples.last().copied().unwrap_or(f64::NAN),
        );
        println!("{row}");
        rows.insert(n, (row, percentile(&samples, 0.99)));
    }
    if !args.out.is_empty() {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let table: Vec<&str> = rows.values().map(|(r, _)| r.as_str()).collect();
        let verdict = rows
            .get(&100)
            .map(|(_, p99)| {
                format!(
                    "\nTarget: p99 under 100 ms for N = 100: {p99:.1} ms, {}.\n",
                    if *p99 < 100.0 { "met" } else { "not met" }
                )
            })
            .unwrap_or_default();
        let text = format!(
            "## Back-channel logout fan-out\n\n\
             Measured by `logout-fanout` (tests/src/bin/logout_fanout.rs), a benchmark harness, not a test.\n\n\
             ```sh\ncargo build --release -p federation-tests\ntarget/release/logout-fanout --rounds {}\n```\n\n\
             Machine: {cores} cores; the IdP (SQLite, in-memory state) and the simulated nodes share one \
             process. One sample: an IdP session with a participant at each of N nodes is ended at the \
             end-session endpoint; the time runs from sending that request until the last node has \
             received its logout token (each minted for it, queued in the durable outbox, sent \
             concurrently).\n\n\
             | nodes | sign-outs | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|\n{}\n{verdict}",
            args.rounds,
            table.join("\n")
        );
        federation_tests::write_section(&args.out, "logout-fanout", &text)?;
        println!("written to {}", args.out);
    }
    Ok(())
}
