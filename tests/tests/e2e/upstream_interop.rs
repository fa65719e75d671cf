//! ID-card sign-in through an independent OpenID Provider (issue 7): panva's oidc-provider from
//! the npm registry as the IdP's upstream, with the plain OIDC claim profile. Needs Node.js and
//! `npm ci --prefix tests/interop`, so it is `#[ignore]`d in the plain run; .ci/run runs it.

use std::process::Stdio;

use federation_tests::stack::{MARI_CODE, Stack};
use federation_tests::{browser_for_stack, hidden};
use idp::service::upstream::{ClaimProfile, UpstreamConfig};
use tokio::io::{AsyncBufReadExt, BufReader};

const SECRET: &str = "upstream-secret-upstream-secret-upstream-secret";

async fn start_op(port: u16, redirect_uri: &str, amr: &str) -> tokio::process::Child {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/upstream_op.mjs");
    let mut child = tokio::process::Command::new("node")
        .arg(script)
        .env("PORT", port.to_string())
        .env("CLIENT_ID", "idp")
        .env("CLIENT_SECRET", SECRET)
        .env("REDIRECT_URI", redirect_uri)
        .env("PERSONAL_CODE", MARI_CODE)
        .env("GIVEN_NAME", "Mari")
        .env("FAMILY_NAME", "Maasikas")
        .env("AMR", amr)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs: this test needs Node.js");
    // Its output is read to the end, so that it never writes into a closed pipe.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (ready, is_ready) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut ready = Some(ready);
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("ready ")
                && let Some(tx) = ready.take()
            {
                let _ = tx.send(());
            }
        }
    });
    tokio::time::timeout(std::time::Duration::from_secs(20), is_ready)
        .await
        .expect("oidc-provider starts")
        .expect("oidc-provider says it is ready");
    child
}

use testkit::free_port;

async fn sign_in_through(amr_given: &str) -> (reqwest::Response, Stack, tokio::process::Child) {
    let port = free_port();
    let stack = Stack::start(|c| {
        c.upstreams = vec![UpstreamConfig {
            id: "op".into(),
            label_et: "ID-kaart".into(),
            label_en: "ID card".into(),
            issuer: format!("http://127.0.0.1:{port}"),
            client_id: "idp".into(),
            client_secret: SECRET.into(),
            scopes: vec!["profile".into()],
            amr: "idcard".into(),
            acr: Some(idp::oidc::acr::Acr::High),
            claims: ClaimProfile::Flat,
            ..UpstreamConfig::default()
        }];
    })
    .await;
    let op = start_op(
        port,
        &format!("{}/upstream/op/callback", stack.idp_url),
        amr_given,
    )
    .await;
    let client = browser_for_stack();
    let page = client
        .get(format!("{}/login", stack.node_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-upstream=\"op\""), "{page}");
    let answer = client
        .get(format!(
            "{}/upstream/op/start?r={}",
            stack.idp_url,
            hidden(&page, "r")
        ))
        .send()
        .await
        .unwrap();
    (answer, stack, op)
}

#[tokio::test]
#[ignore = "needs Node.js and npm ci --prefix tests/interop (run by .ci/run)"]
async fn oidc_provider_as_the_upstream_signs_mari_in_by_her_personal_code() {
    let (home, stack, _op) = sign_in_through("idcard").await;
    assert_eq!(home.url().as_str(), format!("{}/", stack.node_url));
    let home = home.text().await.unwrap();
    assert!(home.contains("Tere, Mari Maasikas!"), "{home}");
}

#[tokio::test]
#[ignore = "needs Node.js and npm ci --prefix tests/interop (run by .ci/run)"]
async fn an_upstream_answer_with_another_method_is_refused() {
    let (page, stack, _op) = sign_in_through("mID").await;
    assert_eq!(page.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert!(
        page.url().as_str().starts_with(&stack.idp_url),
        "{}",
        page.url()
    );
    let body = page.text().await.unwrap();
    assert!(
        body.contains("ID-kaardi või Smart-IDga sisselogimine ei õnnestunud"),
        "{body}"
    );
}
