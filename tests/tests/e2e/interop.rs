//! Interoperability: panva's openid-client (Node.js, from the npm registry) against the IdP with
//! each client authentication method. Needs Node.js and `npm ci --prefix tests/interop`, so it is
//! `#[ignore]`d in the plain test run; .ci/run runs it with `--include-ignored`, and then it fails,
//! never skips, when Node or the package is missing.

use federation_tests::stack::{PASSWORD, POST_LOGOUT_URI, REDIRECT_URI, SECRET, Stack, USERNAME};
use serde_json::Value;

async fn run_client(stack: &Stack, client_id: &str, auth: &str, alg: &str) -> Value {
    run_client_with(stack, client_id, auth, alg, SECRET, false).await
}

async fn run_client_with(
    stack: &Stack,
    client_id: &str,
    auth: &str,
    alg: &str,
    secret: &str,
    only_exchange: bool,
) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/openid_client.mjs");
    let mut command = tokio::process::Command::new("node");
    command
        .arg(script)
        .env("ISSUER", &stack.idp_url)
        .env("CLIENT_ID", client_id)
        .env("CLIENT_SECRET", secret)
        .env("ONLY_EXCHANGE", if only_exchange { "1" } else { "" })
        .env("AUTH", auth)
        .env("ID_TOKEN_ALG", alg)
        .env("PRIVATE_KEY_PEM", &stack.rp_key_pem)
        .env("KID", &stack.rp_key.kid)
        .env("REDIRECT_URI", REDIRECT_URI)
        .env("POST_LOGOUT_URI", POST_LOGOUT_URI)
        .env("USERNAME", USERNAME)
        .env("PASSWORD", PASSWORD);
    federation_tests::run_node_script(&mut command).await
}

#[tokio::test]
#[ignore = "needs Node.js and npm ci --prefix tests/interop (run by .ci/run)"]
async fn openid_client_completes_every_step_with_each_client_authentication() {
    let stack = Stack::start(|_| {}).await;
    for (client_id, auth, alg) in [
        ("rp-basic", "basic", "ES256"),
        ("rp-post", "post", "ES256"),
        ("rp-jwt", "private_key_jwt", "RS256"),
    ] {
        let out = run_client(&stack, client_id, auth, alg).await;
        assert!(out.get("failure").is_none(), "{client_id}: {out:#}");
        assert_eq!(out["discovery"], stack.idp_url.as_str(), "{out:#}");
        assert_eq!(
            out["id_token"]["sub"],
            stack.mari.as_str(),
            "sub is the node's account id"
        );
        assert_eq!(out["id_token"]["aud"], client_id);
        assert_eq!(out["id_token"]["amr"], serde_json::json!(["pwd"]));
        assert!(
            out["id_token"]["sid"].is_string() && out["id_token"]["auth_time"].is_number(),
            "{out:#}"
        );
        assert_eq!(out["id_token"]["given_name"], "Mari");
        assert_eq!(out["id_token_alg"], alg);
        assert_eq!(out["userinfo"]["sub"], stack.mari.as_str());
        assert_eq!(out["userinfo"]["email"], "mari@example.ee");
        assert_eq!(out["refreshed_sub"], stack.mari.as_str());
        assert_eq!(
            out["logout_flags"],
            serde_json::json!([true, true, true, true]),
            "discovery tells both logout channels with sessions"
        );
        assert_eq!(
            out["refreshed_id_token"]["amr"], out["id_token"]["amr"],
            "a refresh keeps how the person signed in: {out:#}"
        );
        assert_eq!(out["refreshed_id_token"]["acr"], out["id_token"]["acr"]);
        assert_eq!(
            out["refreshed_id_token"]["auth_time"],
            out["id_token"]["auth_time"]
        );
        assert_eq!(out["userinfo_after_refresh"], stack.mari.as_str());
        assert_eq!(out["code_reuse"], "invalid_grant", "{out:#}");
        assert_eq!(
            out["userinfo_after_code_reuse"], "invalid_token",
            "a reused code revokes its tokens: {out:#}"
        );
        assert_eq!(out["refresh_after_code_reuse"], "invalid_grant", "{out:#}");
        assert_eq!(
            out["silent_sid_same"], true,
            "prompt=none used the IdP session"
        );
        assert_eq!(out["refresh_reuse"], "invalid_grant");
        assert_eq!(
            out["refresh_after_reuse"], "invalid_grant",
            "refresh reuse revokes the grant"
        );
        assert_eq!(out["wrong_verifier"], "invalid_grant");
        assert_eq!(
            out["logout_location"],
            format!("{POST_LOGOUT_URI}?state=bye")
        );
        assert_eq!(out["after_logout"], "login_required", "the session ended");
    }
}

#[tokio::test]
#[ignore = "needs Node.js and npm ci --prefix tests/interop (run by .ci/run)"]
async fn a_secret_rotated_out_is_refused_and_the_new_one_works() {
    let past = time::OffsetDateTime::from_unix_timestamp(1_600_000_000).unwrap();
    let future = time::OffsetDateTime::from_unix_timestamp(4_100_000_000).unwrap();
    let stack = Stack::start(|c| {
        let rp = c
            .clients
            .iter_mut()
            .find(|c| c.client_id == "rp-post")
            .unwrap();
        rp.secret_hash = None;
        rp.secrets = vec![
            idp::config::SecretConfig {
                hash: idp::config::hash_secret("the-old-secret"),
                expires_at: Some(past),
            },
            idp::config::SecretConfig {
                hash: idp::config::hash_secret("the-new-secret"),
                expires_at: Some(future),
            },
        ];
    })
    .await;
    let old = run_client_with(&stack, "rp-post", "post", "ES256", "the-old-secret", true).await;
    assert_eq!(old["exchange"], "invalid_client", "{old:#}");
    let new = run_client_with(&stack, "rp-post", "post", "ES256", "the-new-secret", true).await;
    assert_eq!(new["exchange"], "accepted", "{new:#}");
    let full = run_client_with(&stack, "rp-post", "post", "ES256", "the-new-secret", false).await;
    assert!(full.get("failure").is_none(), "{full:#}");
}
