//! The IdP's protocol rules, checked over HTTP: what must be refused is refused with the
//! specs' error codes, and nothing is redirected before the client and redirect URI are known.

use std::time::Duration;

use federation_tests::stack::{CHALLENGE, REDIRECT_URI, SECRET, Stack, VERIFIER, urlencode};
use reqwest::StatusCode;
use serde_json::Value;

fn authorize_url(stack: &Stack, client_id: &str, redirect_uri: &str, extra: &str) -> String {
    format!(
        "{}/authorize?client_id={client_id}&redirect_uri={}&response_type=code&scope=openid&state=s1{extra}",
        stack.idp_url,
        urlencode(redirect_uri)
    )
}

async fn token(
    stack: &Stack,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/token", stack.idp_url))
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    (status, response.json().await.unwrap())
}

fn code_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ]
}

#[tokio::test]
async fn unknown_clients_and_redirect_uris_get_a_page_not_a_redirect() {
    let stack = Stack::start(|_| {}).await;
    let browser = stack.browser();
    let challenge = format!("&code_challenge={CHALLENGE}&code_challenge_method=S256");
    for url in [
        authorize_url(&stack, "nobody", REDIRECT_URI, &challenge),
        authorize_url(
            &stack,
            "rp-basic",
            "http://127.0.0.1:9/cb/../evil",
            &challenge,
        ),
        authorize_url(&stack, "rp-basic", "http://127.0.0.1:9/CB", &challenge),
        authorize_url(&stack, "rp-basic", "https://evil.example/cb", &challenge),
    ] {
        let r = browser.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{url}");
        assert!(r.headers().get("location").is_none());
        assert!(
            r.text().await.unwrap().contains("<html"),
            "a page for people"
        );
    }
}

#[tokio::test]
async fn request_errors_go_back_to_a_known_redirect_uri() {
    let stack = Stack::start(|_| {}).await;
    let browser = stack.browser();
    let cases = [
        ("", "invalid_request"),
        (
            "&code_challenge=abc&code_challenge_method=plain",
            "invalid_request",
        ),
        (
            &*format!("&code_challenge={CHALLENGE}&code_challenge_method=S256&prompt=none"),
            "login_required",
        ),
    ];
    for (extra, error) in cases {
        let r = browser
            .get(authorize_url(&stack, "rp-basic", REDIRECT_URI, extra))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let location = reqwest::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(
            q.get("error").map(String::as_str),
            Some(error),
            "{location}"
        );
        assert_eq!(q.get("state").map(String::as_str), Some("s1"));
        assert_eq!(q.get("iss"), Some(&stack.idp_url), "RFC 9207");
    }
    let implicit = authorize_url(&stack, "rp-basic", REDIRECT_URI, "")
        .replace("response_type=code", "response_type=token");
    let r = browser.get(implicit).send().await.unwrap();
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=unsupported_response_type")
    );
}

#[tokio::test]
async fn the_token_endpoint_refuses_what_it_must() {
    let stack = Stack::start(|_| {}).await;
    let browser = stack.browser();

    let code = stack.code(&browser, "rp-basic", CHALLENGE).await;
    let (status, body) = token(
        &stack,
        &code_form(&code, VERIFIER),
        Some(("rp-basic", "wrong-secret")),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body) = token(
        &stack,
        &code_form(&code, VERIFIER),
        Some(("nobody", SECRET)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (_, body) = token(&stack, &code_form(&code, VERIFIER), None).await;
    assert_eq!(body["error"], "invalid_client", "no authentication at all");
    // Another client cannot redeem this client's code.
    let (_, body) = token(
        &stack,
        &code_form(&code, VERIFIER),
        Some(("rp-post", SECRET)),
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");

    let code = stack.code(&browser, "rp-basic", CHALLENGE).await;
    let mut missing = code_form(&code, VERIFIER);
    missing.retain(|(k, _)| *k != "code_verifier");
    let (_, body) = token(&stack, &missing, Some(("rp-basic", SECRET))).await;
    assert_eq!(body["error"], "invalid_grant", "a missing verifier");

    let code = stack.code(&browser, "rp-basic", CHALLENGE).await;
    let mut wrong_uri = code_form(&code, VERIFIER);
    wrong_uri[2] = ("redirect_uri", "http://127.0.0.1:9/other");
    let (_, body) = token(&stack, &wrong_uri, Some(("rp-basic", SECRET))).await;
    assert_eq!(
        body["error"], "invalid_grant",
        "a redirect_uri other than the request's"
    );

    let (_, body) = token(
        &stack,
        &[("grant_type", "password"), ("username", "x")],
        Some(("rp-basic", SECRET)),
    )
    .await;
    assert_eq!(body["error"], "unsupported_grant_type");
    let (_, body) = token(
        &stack,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "made-up"),
        ],
        Some(("rp-basic", SECRET)),
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");

    // client_secret_post works as well as basic.
    let code = stack.code(&browser, "rp-post", CHALLENGE).await;
    let mut form = code_form(&code, VERIFIER);
    form.extend([("client_id", "rp-post"), ("client_secret", SECRET)]);
    let (status, body) = token(&stack, &form, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let clock = shared::Clock::manual();
    let stack = Stack::start(|c| {
        c.code_seconds = 1;
        c.clock = clock.clone();
    })
    .await;
    let code = stack.code(&stack.browser(), "rp-basic", CHALLENGE).await;
    clock.advance(Duration::from_secs(2));
    let (_, body) = token(
        &stack,
        &code_form(&code, VERIFIER),
        Some(("rp-basic", SECRET)),
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn revocation_ends_the_grant_and_key_rotation_keeps_old_tokens_verifiable() {
    let stack = Stack::start(|_| {}).await;
    let code = stack.code(&stack.browser(), "rp-basic", CHALLENGE).await;
    let (_, tokens) = token(
        &stack,
        &code_form(&code, VERIFIER),
        Some(("rp-basic", SECRET)),
    )
    .await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let old_id_token = tokens["id_token"].as_str().unwrap();

    // Rotation: a new kid signs, the old one stays in the JWKS.
    let old_kid = shared::jwt::kid_of(old_id_token).unwrap();
    idp::service::keys::rotate(
        &stack.idp_db,
        &Default::default(),
        shared::jwt::Alg::ES256,
        3600,
        shared::jwt::now(),
    )
    .await
    .unwrap();
    stack.idp.keys.reload(&stack.idp_db).await.unwrap();
    let jwks: Value = reqwest::get(format!("{}/jwks.json", stack.idp_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.len() >= 3,
        "{kids:?}"
    );
    let (_, refreshed) = token(
        &stack,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        Some(("rp-basic", SECRET)),
    )
    .await;
    let new_kid = shared::jwt::kid_of(refreshed["id_token"].as_str().unwrap()).unwrap();
    assert_ne!(new_kid, old_kid);
    let verifiers = shared::jwt::Verifiers::from_jwks(&jwks).unwrap();
    assert!(
        verifiers.verify(old_id_token).is_ok()
            && verifiers
                .verify(refreshed["id_token"].as_str().unwrap())
                .is_ok()
    );

    // Revoking the refresh token ends the grant: no more refresh, no more userinfo.
    let r = reqwest::Client::new()
        .post(format!("{}/revoke", stack.idp_url))
        .basic_auth("rp-basic", Some(SECRET))
        .form(&[
            ("token", refreshed["refresh_token"].as_str().unwrap()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, body) = token(
        &stack,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                refreshed["refresh_token"].as_str().unwrap(),
            ),
        ],
        Some(("rp-basic", SECRET)),
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    let r = reqwest::Client::new()
        .get(format!("{}/userinfo", stack.idp_url))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    // An unknown token is "revoked" too: the answer never tells.
    let r = reqwest::Client::new()
        .post(format!("{}/revoke", stack.idp_url))
        .basic_auth("rp-basic", Some(SECRET))
        .form(&[("token", "nothing")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn discovery_says_what_the_idp_does() {
    let stack = Stack::start(|_| {}).await;
    let d: Value = reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        stack.idp_url
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(d["issuer"], stack.idp_url.as_str());
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    for flag in [
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
    ] {
        assert_eq!(d[flag], true, "{flag}");
    }
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ] {
        assert!(
            d["token_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m == method)
        );
    }
}

#[tokio::test]
async fn logout_accepts_only_registered_post_logout_uris() {
    let stack = Stack::start(|_| {}).await;
    let browser = stack.browser();
    let code = stack.code(&browser, "rp-basic", CHALLENGE).await;
    let (_, tokens) = token(
        &stack,
        &code_form(&code, VERIFIER),
        Some(("rp-basic", SECRET)),
    )
    .await;
    let hint = tokens["id_token"].as_str().unwrap();
    let bad = format!(
        "{}/logout?id_token_hint={hint}&post_logout_redirect_uri={}",
        stack.idp_url,
        urlencode("https://evil.example/")
    );
    let r = browser.get(bad).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    let forged = format!(
        "{}/logout?id_token_hint=eyJhbGciOiJub25lIn0.e30.",
        stack.idp_url
    );
    assert_eq!(
        browser.get(forged).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    // The session is still there: prompt=none still signs in.
    let silent = format!("&code_challenge={CHALLENGE}&code_challenge_method=S256&prompt=none");
    let r = browser
        .get(authorize_url(&stack, "rp-basic", REDIRECT_URI, &silent))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["location"].to_str().unwrap().contains("code="));
}

#[tokio::test]
async fn prompt_login_and_max_age_ask_for_the_password_again() {
    let clock = shared::Clock::manual();
    let stack = Stack::start(|c| c.clock = clock.clone()).await;
    let browser = stack.browser();
    stack.code(&browser, "rp-basic", CHALLENGE).await;
    let base = format!("&code_challenge={CHALLENGE}&code_challenge_method=S256");
    // The session signs in silently…
    let r = browser
        .get(authorize_url(&stack, "rp-basic", REDIRECT_URI, &base))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["location"].to_str().unwrap().contains("code="));
    // …but not when the client asks for a fresh sign-in.
    for extra in ["&prompt=login", "&max_age=0"] {
        clock.advance(Duration::from_secs(2));
        let r = browser
            .get(authorize_url(
                &stack,
                "rp-basic",
                REDIRECT_URI,
                &format!("{base}{extra}"),
            ))
            .send()
            .await
            .unwrap();
        let location = r.headers()["location"].to_str().unwrap();
        assert!(location.starts_with("/login?r="), "{extra}: {location}");
    }
    let r = browser
        .get(authorize_url(
            &stack,
            "rp-basic",
            REDIRECT_URI,
            &format!("{base}&max_age=3600"),
        ))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["location"].to_str().unwrap().contains("code="),
        "a recent enough sign-in"
    );
}

#[tokio::test]
async fn a_callers_error_names_no_cause_of_ours() {
    // rp-jwt's keys are at an address nothing answers on.
    let stack = Stack::start(|c| {
        let rp = c
            .clients
            .iter_mut()
            .find(|c| c.client_id == "rp-jwt")
            .unwrap();
        rp.jwks_uri = Some("http://127.0.0.1:9/unreachable-jwks.json".into());
    })
    .await;
    let now = shared::jwt::now();
    let claims = serde_json::json!({
        "iss": "rp-jwt", "sub": "rp-jwt", "aud": format!("{}/token", stack.idp_url),
        "iat": now, "exp": now + 60, "jti": "a-unique-one",
    });
    let assertion = stack
        .rp_key
        .sign("JWT", claims.as_object().unwrap())
        .unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "anything"),
        ("client_id", "rp-jwt"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let (status, body) = token(&stack, &form, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        !description.contains("127.0.0.1")
            && !description.contains("error")
            && !description.contains("jwks"),
        "{description}"
    );
}

#[tokio::test]
async fn the_registry_follows_its_clients_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clients.toml");
    let registration = format!(
        "[[client]]\nclient_id = \"rp-file\"\nname = \"Failist\"\nsecret_hash = \"{}\"\nredirect_uris = [\"{REDIRECT_URI}\"]\n",
        idp::config::hash_secret(SECRET)
    );
    std::fs::write(&file, &registration).unwrap();
    let path = file.clone();
    let stack = Stack::start(move |c| {
        c.clients_file = Some(path);
        c.reload_seconds = 1;
    })
    .await;
    let browser = stack.browser();
    let authorize = authorize_url(
        &stack,
        "rp-file",
        REDIRECT_URI,
        &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
    );
    let r = browser.get(&authorize).send().await.unwrap();
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?r=")
    );

    // Removed from the file: unregistered within a reload, everywhere.
    std::fs::write(&file, "").unwrap();
    testkit::eventually(
        "rp-file is unregistered",
        Duration::from_secs(10),
        || async {
            let r = browser.get(&authorize).send().await.unwrap();
            if r.status() == StatusCode::BAD_REQUEST {
                Ok(())
            } else {
                Err(format!("{}", r.status()))
            }
        },
    )
    .await;
    let (status, body) = token(
        &stack,
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        Some(("rp-file", SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    // The inline clients stay.
    let r = browser
        .get(authorize_url(
            &stack,
            "rp-basic",
            REDIRECT_URI,
            &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
}

#[tokio::test]
async fn the_retention_sweep_brings_every_table_back_to_a_bounded_size() {
    let clock = shared::Clock::manual();
    let stack = Stack::start(|c| {
        c.clock = clock.clone();
        c.retention_hours = 1;
    })
    .await;
    // Many sign-ins, each with a refresh and a rotation of its refresh token.
    for _ in 0..6 {
        let browser = stack.browser();
        let code = stack.code(&browser, "rp-basic", CHALLENGE).await;
        let (status, tokens) = token(
            &stack,
            &code_form(&code, VERIFIER),
            Some(("rp-basic", SECRET)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let (status, _) = token(
            &stack,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            Some(("rp-basic", SECRET)),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    idp::service::keys::rotate(
        &stack.idp_db,
        &Default::default(),
        shared::jwt::Alg::ES256,
        60,
        clock.now(),
    )
    .await
    .unwrap();
    let [grants, refresh_tokens, _, keys] =
        idp::store::retention::sizes(&stack.idp_db).await.unwrap();
    assert!(
        grants >= 6 && refresh_tokens >= 12 && keys >= 3,
        "{grants} {refresh_tokens} {keys}"
    );

    // Nothing is swept while it may still matter…
    let swept = stack.idp.retention.sweep().await.unwrap();
    assert_eq!(swept, Default::default());
    // …and everything that ended is, once the retention has passed.
    clock.advance(Duration::from_secs(31 * 86_400));
    stack.idp.retention.sweep().await.unwrap();
    let [grants, refresh_tokens, outbox, keys] =
        idp::store::retention::sizes(&stack.idp_db).await.unwrap();
    assert_eq!((grants, refresh_tokens, outbox), (0, 0, 0));
    assert_eq!(
        keys, 2,
        "the current key of each algorithm stays, the retired one goes"
    );

    // Audit events stay `audit_retention_days` (365), then go too.
    let events = || async {
        let all = shared::audit::Filter {
            limit: 10_000,
            ..Default::default()
        };
        shared::audit::list(&stack.idp_db, &all)
            .await
            .unwrap()
            .len()
    };
    testkit::eventually(
        "the sign-ins are recorded",
        Duration::from_secs(10),
        || async {
            match events().await {
                n if n >= 6 => Ok(()),
                n => Err(format!("{n} events")),
            }
        },
    )
    .await;
    stack.idp.retention.sweep().await.unwrap();
    assert!(events().await >= 6, "kept within the year");
    clock.advance(Duration::from_secs(366 * 86_400));
    stack.idp.retention.sweep().await.unwrap();
    assert_eq!(events().await, 0);
}

/// The value of one series in a Prometheus text page (0 when it is not there yet).
fn series(page: &str, name: &str, labels: &[&str]) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_on_their_own_address_move_with_the_work() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stack = Stack::start(|c| {
        c.metrics_listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
        c.session_sweep_seconds = 1;
    })
    .await;
    let scrape = || async {
        reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    // Not on the public address.
    let public = reqwest::get(format!("{}/metrics", stack.idp_url))
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let before = scrape().await;
    let browser = stack.browser();
    let code = stack.code(&browser, "rp-basic", CHALLENGE).await;
    let (status, _) = token(
        &stack,
        &code_form(&code, VERIFIER),
        Some(("rp-basic", SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let after = scrape().await;
    for (name, labels) in [
        (
            "http_requests_total",
            &["service=\"idp\"", "route=\"/token\"", "status=\"200\""][..],
        ),
        (
            "idp_signins_total",
            &["method=\"password\"", "outcome=\"ok\""][..],
        ),
        (
            "idp_token_requests_total",
            &["grant=\"authorization_code\""][..],
        ),
        (
            "http_request_duration_seconds_count",
            &["route=\"/authorize\""][..],
        ),
    ] {
        assert!(
            series(&after, name, labels) > series(&before, name, labels),
            "{name}{labels:?} did not move:\n{after}"
        );
    }
    // The sweeper counts the sessions that have not ended: the one just made is among them.
    testkit::eventually("an active session", Duration::from_secs(10), || async {
        let now = scrape().await;
        match series(&now, "idp_sessions_active", &[]) {
            n if n >= 1.0 => Ok(()),
            n => Err(format!("{n}")),
        }
    })
    .await;
}

#[tokio::test]
async fn one_refresh_token_presented_twice_at_once_is_honoured_once_and_ends_the_grant() {
    let stack = Stack::start(|_| {}).await;
    for round in 0..5 {
        let code = stack.code(&stack.browser(), "rp-basic", CHALLENGE).await;
        let (_, tokens) = token(
            &stack,
            &code_form(&code, VERIFIER),
            Some(("rp-basic", SECRET)),
        )
        .await;
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
        let basic = Some(("rp-basic", SECRET));
        let ((s1, a1), (s2, a2)) =
            tokio::join!(token(&stack, &form, basic), token(&stack, &form, basic));
        let mut statuses = [s1, s2];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::BAD_REQUEST],
            "round {round}: {a1} {a2}"
        );
        let (won, lost) = if s1 == StatusCode::OK {
            (a1, a2)
        } else {
            (a2, a1)
        };
        assert_eq!(lost["error"], "invalid_grant", "round {round}");
        // The second use looks like a stolen token: the whole grant ends, the new one too.
        let next = won["refresh_token"].as_str().unwrap();
        let (status, answer) = token(
            &stack,
            &[("grant_type", "refresh_token"), ("refresh_token", next)],
            basic,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "round {round}: {answer}");
        assert_eq!(answer["error"], "invalid_grant");
    }
}

/// A fresh grant for rp-basic: its refresh and access tokens.
async fn fresh_grant(stack: &Stack) -> (String, String) {
    let code = stack.code(&stack.browser(), "rp-basic", CHALLENGE).await;
    let (status, tokens) = token(
        stack,
        &code_form(&code, VERIFIER),
        Some(("rp-basic", SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    (
        tokens["refresh_token"].as_str().unwrap().to_owned(),
        tokens["access_token"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(stack: &Stack, client: &str, refresh: &str) -> (StatusCode, Value) {
    token(
        stack,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        Some((client, SECRET)),
    )
    .await
}

async fn userinfo(stack: &Stack, access: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/userinfo", stack.idp_url))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}

/// RFC 9700 §4.14.2: the account's refresh tokens die with it. An admin closes the account at
/// its school; the node's message reaches the IdP, and the refresh token and the access token
/// issued before are refused.
#[tokio::test]
async fn closing_an_account_revokes_its_grants() {
    let stack = Stack::start(|_| {}).await;
    let (refresh_token, access) = fresh_grant(&stack).await;
    stack
        .node
        .sign_outs()
        .close_account(
            &stack.mari,
            &shared::audit::Event::new(
                shared::audit::kind::ACCOUNT_CLOSED,
                shared::audit::Actor::of(shared::audit::ActorKind::Admin),
            )
            .subject(&stack.mari),
        )
        .await
        .unwrap();
    testkit::eventually("the grant is revoked", Duration::from_secs(20), || async {
        match refresh(&stack, "rp-basic", &refresh_token).await {
            (StatusCode::BAD_REQUEST, answer) if answer["error"] == "invalid_grant" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(userinfo(&stack, &access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_new_password_revokes_the_grants_from_before_it() {
    let stack = Stack::start(|_| {}).await;
    let (refresh_token, _) = fresh_grant(&stack).await;
    stack
        .node
        .sign_outs()
        .password_changed(&stack.mari, None, None)
        .await
        .unwrap();
    testkit::eventually("the grant is revoked", Duration::from_secs(20), || async {
        match refresh(&stack, "rp-basic", &refresh_token).await {
            (StatusCode::BAD_REQUEST, answer) if answer["error"] == "invalid_grant" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// A refresh token presented by another client is refused and left as it was, so that the
/// client it was issued to can still use it.
#[tokio::test]
async fn a_refresh_token_of_another_client_is_refused_without_being_spent() {
    let stack = Stack::start(|_| {}).await;
    let (refresh_token, _) = fresh_grant(&stack).await;
    let (status, answer) = refresh(&stack, "rp-post", &refresh_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "invalid_grant");
    let (status, answer) = refresh(&stack, "rp-basic", &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["refresh_token"].is_string());
}
