//! A node's side of global sign-out: back-channel logout tokens checked completely, and
//! front-channel logout by `sid` on the server (no cookies needed), ending the node's sessions.

use std::sync::Arc;

use federation_tests::stack::{PASSWORD, Stack, USERNAME};
use federation_tests::{hidden, submit_idp_login};
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Value, json};
use shared::jwt::{Alg, SigningKey};

/// A person signed in at the node through the IdP: the browser's jar and the IdP's `sid`.
async fn signed_in(stack: &Stack) -> (Arc<Jar>, String) {
    let jar = Arc::new(Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let page = browser
        .get(format!("{}/login", stack.node_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let home = submit_idp_login(&browser, &stack.idp_url, &page, USERNAME, PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    assert!(home.contains("Tere, Mari Maasikas!"), "{home}");
    let url: reqwest::Url = stack.idp_url.parse().unwrap();
    let cookies = jar.cookies(&url).unwrap();
    let value = cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("idp_session="))
        .unwrap()
        .to_owned();
    let session = stack.idp.sessions.load(&value).await.unwrap().unwrap();
    (jar, session.sid.to_string())
}

/// Whether the node still has the person's session (looked at without following redirects).
async fn still_signed_in(stack: &Stack, jar: &Arc<Jar>) -> bool {
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    client
        .get(format!("{}/", stack.node_url))
        .send()
        .await
        .unwrap()
        .status()
        == StatusCode::OK
}

fn claims(stack: &Stack, sid: &str) -> Value {
    let now = shared::jwt::now();
    json!({
        "iss": stack.idp_url, "aud": "jpk", "iat": now, "exp": now + 120, "jti": uuid_like(),
        "sid": sid, "sub": stack.mari,
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    })
}

fn uuid_like() -> String {
    shared::jwt::random_kid()
}

async fn post(stack: &Stack, token: &str) -> (StatusCode, Option<String>) {
    let r = reqwest::Client::new()
        .post(format!("{}/sso/backchannel-logout", stack.node_url))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap();
    (
        r.status(),
        r.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned()),
    )
}

fn sign(stack: &Stack, typ: &str, claims: &Value) -> String {
    stack
        .idp
        .keys
        .sign(Alg::ES256, typ, claims.as_object().unwrap())
        .unwrap()
}

#[tokio::test]
async fn forged_or_wrong_logout_tokens_get_400_and_end_nothing() {
    let stack = Stack::start(|_| {}).await;
    let (jar, sid) = signed_in(&stack).await;
    let good = claims(&stack, &sid);
    let (stranger, _) = SigningKey::generate(Alg::ES256).unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = good.clone();
        f(c.as_object_mut().unwrap());
        c
    };
    let mut cases = vec![
        (
            "bad signature",
            stranger
                .sign("logout+jwt", good.as_object().unwrap())
                .unwrap(),
        ),
        ("wrong typ", sign(&stack, "JWT", &good)),
        (
            "wrong aud",
            sign(
                &stack,
                "logout+jwt",
                &with(&|c| {
                    c.insert("aud".into(), "laagri".into());
                }),
            ),
        ),
        (
            "wrong iss",
            sign(
                &stack,
                "logout+jwt",
                &with(&|c| {
                    c.insert("iss".into(), "http://evil.example".into());
                }),
            ),
        ),
        (
            "nonce present",
            sign(
                &stack,
                "logout+jwt",
                &with(&|c| {
                    c.insert("nonce".into(), "n".into());
                }),
            ),
        ),
        (
            "events missing",
            sign(
                &stack,
                "logout+jwt",
                &with(&|c| {
                    c.remove("events");
                }),
            ),
        ),
        (
            "no sid or sub",
            sign(
                &stack,
                "logout+jwt",
                &with(&|c| {
                    c.remove("sid");
                    c.remove("sub");
                }),
            ),
        ),
        (
            "too old",
            sign(
                &stack,
                "logout+jwt",
                &with(&|c| {
                    c.insert("iat".into(), (shared::jwt::now() - 3600).into());
                    c.insert("exp".into(), (shared::jwt::now() + 60).into());
                }),
            ),
        ),
        ("not a JWT", "garbage".into()),
    ];
    // A kid the IdP never published.
    cases.push((
        "unknown kid",
        SigningKey::generate(Alg::ES256)
            .unwrap()
            .0
            .sign("logout+jwt", good.as_object().unwrap())
            .unwrap(),
    ));
    for (what, token) in &cases {
        let (status, cache) = post(&stack, token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(cache.as_deref(), Some("no-store"), "{what}");
        assert!(
            still_signed_in(&stack, &jar).await,
            "{what} ended a session"
        );
    }

    // The valid token ends the session; the same token again is a replay.
    let token = sign(&stack, "logout+jwt", &good);
    assert_eq!(
        post(&stack, &token).await,
        (StatusCode::OK, Some("no-store".into()))
    );
    assert!(!still_signed_in(&stack, &jar).await);
    assert_eq!(
        post(&stack, &token).await.0,
        StatusCode::BAD_REQUEST,
        "jti replayed"
    );
    // A valid token for a session already gone is still a 200.
    let again = sign(&stack, "logout+jwt", &claims(&stack, &sid));
    assert_eq!(post(&stack, &again).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_sub_only_token_ends_the_accounts_sessions() {
    let stack = Stack::start(|_| {}).await;
    let (jar, sid) = signed_in(&stack).await;
    let mut c = claims(&stack, &sid);
    c.as_object_mut().unwrap().remove("sid");
    assert_eq!(
        post(&stack, &sign(&stack, "logout+jwt", &c)).await.0,
        StatusCode::OK
    );
    assert!(!still_signed_in(&stack, &jar).await);
}

#[tokio::test]
async fn front_channel_logout_works_without_cookies() {
    let stack = Stack::start(|_| {}).await;
    let (jar, sid) = signed_in(&stack).await;
    // As an iframe without third-party cookies: no cookie at all, only iss and sid.
    let url = format!(
        "{}/sso/frontchannel-logout?iss={}&sid=other",
        stack.node_url, stack.idp_url
    );
    assert_eq!(reqwest::get(&url).await.unwrap().status(), StatusCode::OK);
    assert!(
        still_signed_in(&stack, &jar).await,
        "another sid ends nothing"
    );
    let wrong_iss = format!(
        "{}/sso/frontchannel-logout?iss=http://evil.example&sid={sid}",
        stack.node_url
    );
    assert_eq!(
        reqwest::get(&wrong_iss).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert!(still_signed_in(&stack, &jar).await);
    let r = reqwest::Client::new()
        .get(format!("{}/sso/frontchannel-logout", stack.node_url))
        .query(&[("iss", stack.idp_url.as_str()), ("sid", sid.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(!still_signed_in(&stack, &jar).await);
}

/// Forwards every connection on `listener` to `target`: the node, reachable again.
async fn forward(listener: tokio::net::TcpListener, target: String) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        let target = target.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[tokio::test]
async fn a_node_that_is_down_gets_its_logout_token_when_it_is_back() {
    node_down_then_back(false).await;
}

#[tokio::test]
async fn the_logout_token_arrives_also_when_the_idp_restarted_meanwhile() {
    node_down_then_back(true).await;
}

async fn node_down_then_back(restart_idp: bool) {
    let proxy_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut stack = Stack::start(|c| {
        c.delivery_retry_base_millis = 100;
        c.delivery_retry_max_millis = 300;
        c.delivery_poll_millis = 100;
        let jpk = c.clients.iter_mut().find(|c| c.client_id == "jpk").unwrap();
        jpk.backchannel_logout_uri = Some(format!(
            "http://127.0.0.1:{proxy_port}/sso/backchannel-logout"
        ));
    })
    .await;
    let (jar, _sid) = signed_in(&stack).await;

    // Sign out at the IdP while the node cannot be reached.
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser
        .get(format!("{}/logout?client_id=jpk", stack.idp_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = testkit::confirm_idp_logout(&browser, &stack.idp_url, &page).await;
    assert_eq!(r.status(), StatusCode::OK);
    let attempts = || async {
        let n: i64 = shared::with_pool!(&stack.idp_db, pool => sqlx::query_scalar("SELECT CAST(COALESCE(MAX(attempts), 0) AS BIGINT) FROM outbox WHERE delivered_at IS NULL").fetch_one(pool).await.unwrap());
        n
    };
    testkit::eventually(
        "retried while the node was down",
        std::time::Duration::from_secs(5),
        || async {
            match attempts().await {
                n if n >= 3 => Ok(()),
                n => Err(format!("{n} attempts")),
            }
        },
    )
    .await;
    assert!(still_signed_in(&stack, &jar).await);
    if restart_idp {
        // The IdP goes down and comes back: the delivery is in its database, not its memory.
        stack.restart_idp().await;
    }

    // The node is back: the next attempt, with a fresh token, ends its session.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", proxy_port))
        .await
        .unwrap();
    let node = stack.node_url.trim_start_matches("http://").to_owned();
    tokio::spawn(forward(listener, node));
    testkit::eventually(
        "the logout token arrived once the node was back",
        std::time::Duration::from_secs(10),
        || async {
            if still_signed_in(&stack, &jar).await {
                Err("still signed in".to_owned())
            } else {
                Ok(())
            }
        },
    )
    .await;
    // The IdP records the delivery once the node's answer is back, a moment after the node
    // ended the session.
    testkit::eventually(
        "the IdP recorded the logout delivered",
        std::time::Duration::from_secs(5),
        || async {
            match idp::store::outbox::pending_for(&stack.idp_db, "jpk").await {
                Ok(0) => Ok(()),
                other => Err(format!("pending: {other:?}")),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn signing_out_at_the_node_ends_the_idp_session_and_tells_the_node_by_back_channel() {
    let stack = Stack::start(|c| c.delivery_poll_millis = 100).await;
    let (jar, _) = signed_in(&stack).await;
    let (jar2, _) = signed_in(&stack).await;
    // Two browsers, two IdP sessions: signing out in one ends only that one's node session.
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let home = browser
        .get(format!("{}/", stack.node_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let out = browser
        .post(format!("{}/logout", stack.node_url))
        .form(&[("csrf", hidden(&home, "csrf"))])
        .send()
        .await
        .unwrap();
    assert!(out.url().path().ends_with("/logged-out"), "{}", out.url());
    assert!(!still_signed_in(&stack, &jar).await);
    assert!(
        still_signed_in(&stack, &jar2).await,
        "another person's session stays"
    );
    // The IdP's fan-out reached the node: one delivery, for the one session that ended.
    let delivered: i64 = testkit::eventually(
        "the fan-out reached the node",
        std::time::Duration::from_secs(5),
        || async {
            let n: i64 = shared::with_pool!(&stack.idp_db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NOT NULL").fetch_one(pool).await.unwrap());
            if n > 0 { Ok(n) } else { Err("nothing delivered".to_owned()) }
        },
    )
    .await;
    assert_eq!(delivered, 1);
}
