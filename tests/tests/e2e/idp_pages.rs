//! The IdP's pages as people and attackers meet them: every error page names the error and
//! carries the request id its log line has; a failure to record a sign-out is shown with a way
//! to try again and ends nothing; a sign-in form's values replayed from another browser sign no
//! one in.

use federation_tests::stack::{
    CHALLENGE, PASSWORD, POST_LOGOUT_URI, REDIRECT_URI, Stack, USERNAME, urlencode,
};
use federation_tests::{hidden, submit_idp_login};
use reqwest::StatusCode;

fn silent(stack: &Stack, client_id: &str) -> String {
    format!(
        "{}/authorize?client_id={client_id}&redirect_uri={}&response_type=code&scope=openid&state=s1&prompt=none&code_challenge={CHALLENGE}&code_challenge_method=S256",
        stack.idp_url,
        urlencode(REDIRECT_URI)
    )
}

async fn location(browser: &reqwest::Client, url: &str) -> String {
    let r = browser.get(url).send().await.unwrap();
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_error_page_names_the_error_and_shows_the_request_id() {
    let stack = Stack::start(|_| {}).await;
    let r = stack
        .browser()
        .get(format!("{}/no-such-page", stack.idp_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = r.text().await.unwrap();
    assert!(body.contains("<title>Lehte ei leitud</title>"), "{body}");
    assert!(!body.contains("Sisselogimine ei õnnestunud"), "{body}");
    assert!(body.contains(&format!("data-request-id>{id}<")), "{body}");

    let r = stack
        .browser()
        .get(format!("{}/login?r=nothing", stack.idp_url))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(body.contains("The sign-in request has expired"), "{body}");
    assert!(body.contains("Request id"), "{body}");
}

#[tokio::test]
async fn a_sign_out_that_cannot_be_recorded_is_shown_with_a_retry_and_ends_nothing() {
    let stack = Stack::start(|c| {
        let node = c.clients[0].backchannel_logout_uri.clone();
        for client in &mut c.clients {
            client.backchannel_logout_uri = node.clone();
        }
    })
    .await;
    let browser = stack.browser();
    stack.code(&browser, "rp-basic", CHALLENGE).await;
    // The outbox the fan-out is queued in is gone: the sign-out cannot be recorded.
    shared::with_pool!(&stack.idp_db, pool => sqlx::query("DROP TABLE outbox").execute(pool).await.map(|_| ()).unwrap());

    let logout = format!("{}/logout?client_id=rp-basic", stack.idp_url);
    let confirm = browser
        .get(&logout)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = testkit::confirm_idp_logout(&browser, &stack.idp_url, &confirm).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "the session cookie stays"
    );
    let body = r.text().await.unwrap();
    assert!(body.contains("Väljalogimine ei õnnestunud"), "{body}");
    assert!(body.contains("oled endiselt sisse logitud"), "{body}");
    assert!(
        body.contains("href=\"/logout?client_id=rp-basic\" data-retry"),
        "{body}"
    );
    assert!(body.contains("data-request-id>"), "{body}");
    // Nothing ended: the session still signs the person in without a form.
    let again = location(&browser, &silent(&stack, "rp-basic")).await;
    assert!(again.contains("code="), "{again}");
}

#[tokio::test]
async fn a_sign_in_form_replayed_from_another_browser_signs_no_one_in() {
    let stack = Stack::start(|_| {}).await;
    let victim = stack.browser();
    let authorize = format!(
        "{}/authorize?client_id=rp-basic&redirect_uri={}&response_type=code&scope=openid&state=s1&code_challenge={CHALLENGE}&code_challenge_method=S256",
        stack.idp_url,
        urlencode(REDIRECT_URI)
    );
    let page = testkit::sign_in_page(&victim, &stack.idp_url, &authorize).await;

    // Another browser (its own cookie jar, or none) posts the very same values.
    let attacker = stack.browser();
    let form = [
        ("r", hidden(&page, "r")),
        ("csrf", hidden(&page, "csrf")),
        ("username", USERNAME.to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    let r = attacker
        .post(format!("{}/login", stack.idp_url))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        !r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("idp_session=")),
        "no session for the other browser"
    );
    let body = r.text().await.unwrap();
    assert!(body.contains("Vorm on aegunud"), "{body}");
    let after = location(&attacker, &silent(&stack, "rp-basic")).await;
    assert!(after.contains("error=login_required"), "{after}");

    // Even with a form token of its own (from opening the same sign-in page), the other
    // browser cannot finish a sign-in that this one began.
    let own_page = attacker
        .get(format!("{}/login?r={}", stack.idp_url, hidden(&page, "r")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = submit_idp_login(&attacker, &stack.idp_url, &own_page, USERNAME, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body = r.text().await.unwrap();
    assert!(body.contains("alustati teises brauseris"), "{body}");
    let after = location(&attacker, &silent(&stack, "rp-basic")).await;
    assert!(after.contains("error=login_required"), "{after}");

    // The browser that began the sign-in could start again; this waiting one was spent.
    let page = testkit::sign_in_page(&victim, &stack.idp_url, &authorize).await;
    let r = submit_idp_login(&victim, &stack.idp_url, &page, USERNAME, PASSWORD).await;
    let done = r.headers()["location"].to_str().unwrap();
    assert!(
        done.starts_with(REDIRECT_URI) && done.contains("code="),
        "{done}"
    );
}

#[tokio::test]
async fn a_plain_sign_out_link_ends_nothing_until_the_person_presses_the_button() {
    let stack = Stack::start(|_| {}).await;
    let browser = stack.browser();
    stack.code(&browser, "rp-basic", CHALLENGE).await;
    // A link from anywhere, with no id_token_hint: only a question.
    let link = format!("{}/logout", stack.idp_url);
    let r = browser.get(&link).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()
            .get("set-cookie")
            .is_none_or(|c| !c.to_str().unwrap().starts_with("idp_session="))
    );
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Kas soovid ühisest sisselogimisest välja logida?"),
        "{page}"
    );
    assert!(
        location(&browser, &silent(&stack, "rp-basic"))
            .await
            .contains("code=")
    );

    // A form posted from another site carries the session cookie at most, never the token.
    let forged = stack
        .browser()
        .post(format!("{}/logout/confirm", stack.idp_url))
        .form(&testkit::hidden_fields(&page))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        location(&browser, &silent(&stack, "rp-basic"))
            .await
            .contains("code=")
    );

    // The person presses the button: now the session ends.
    let r = testkit::confirm_idp_logout(&browser, &stack.idp_url, &page).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Oled välja logitud"));
    let after = location(&browser, &silent(&stack, "rp-basic")).await;
    assert!(after.contains("error=login_required"), "{after}");
}

/// Opens the IdP's sign-in page for rp-basic in `browser`; returns its HTML.
async fn sign_in_page(stack: &Stack, browser: &reqwest::Client) -> String {
    testkit::sign_in_page(browser, &stack.idp_url, &sign_in_page_url(stack)).await
}

fn browser_at(addr: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", addr.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_sign_in_page_pauses_a_failing_address_and_no_other() {
    let stack = Stack::start(|c| {
        c.signin_failures_per_address = 2;
        c.trust_forwarded_for = true;
    })
    .await;
    let failing = browser_at("203.0.113.50");
    let page = sign_in_page(&stack, &failing).await;
    for _ in 0..2 {
        let r = submit_idp_login(&failing, &stack.idp_url, &page, USERNAME, "vale-salasona").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = submit_idp_login(&failing, &stack.idp_url, &page, USERNAME, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("Liiga palju"));

    let other = browser_at("198.51.100.60");
    let page = sign_in_page(&stack, &other).await;
    let r = submit_idp_login(&other, &stack.idp_url, &page, USERNAME, PASSWORD).await;
    let done = r.headers()["location"].to_str().unwrap();
    assert!(done.contains("code="), "{done}");
}

#[tokio::test]
async fn control_characters_are_refused_before_any_store() {
    let stack = Stack::start(|_| {}).await;
    let browser = stack.browser();
    let page = sign_in_page(&stack, &browser).await;
    let r = submit_idp_login(&browser, &stack.idp_url, &page, "Mari\0Maasikas", "x\0").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("juhtmärke"));
    // In an authorization request: an error back to the (known) client, never a 5xx.
    let authorize = format!(
        "{}/authorize?client_id=rp-basic&redirect_uri={}&response_type=code&scope=openid%00%20offline_access&state=s%00&code_challenge={CHALLENGE}&code_challenge_method=S256",
        stack.idp_url,
        urlencode(REDIRECT_URI)
    );
    let to = location(&browser, &authorize).await;
    assert!(
        to.starts_with(REDIRECT_URI) && to.contains("error=invalid_request"),
        "{to}"
    );
    // In the institution search of the linking page: refused with the page, never echoed.
    let r = browser
        .get(format!("{}/link?from=jpk&q=Kool%00%3Cb%3E", stack.idp_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.text().await.unwrap();
    assert!(page.contains("juhtmärke"), "{page}");
    assert!(
        !page.contains('\0') && !page.contains("&lt;b&gt;"),
        "not echoed: {page}"
    );
}

#[tokio::test]
async fn the_idp_says_it_is_live_and_ready() {
    let stack = Stack::start(|_| {}).await;
    let live = reqwest::get(format!("{}/health/live", stack.idp_url))
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = reqwest::get(format!("{}/health/ready", stack.idp_url))
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let report: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(report["ready"], true, "{report}");
    assert_eq!(report["migrations"], true, "{report}");
}

/// An ID token for rp-basic from the session in `browser`.
async fn id_token(stack: &Stack, browser: &reqwest::Client) -> String {
    let code = stack.code(browser, "rp-basic", CHALLENGE).await;
    let tokens: serde_json::Value = stack.exchange(&code).await.json().await.unwrap();
    tokens["id_token"].as_str().unwrap().to_owned()
}

fn logout_with(stack: &Stack, hint: &str) -> String {
    format!(
        "{}/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=bye",
        stack.idp_url,
        urlencode(POST_LOGOUT_URI)
    )
}

/// The hint is for another session than the browser's: an earlier one of the same person,
/// or an attacker's own opened in the victim's browser. Nothing ends, no page says "signed
/// out", nothing sends the browser on as if it were done: the person is asked.
#[tokio::test]
async fn a_hint_for_another_session_asks_first_and_ends_nothing() {
    let stack = Stack::start(|_| {}).await;
    let victim = stack.browser();
    let earlier = id_token(&stack, &victim).await;
    // The earlier session ends as it should: its own hint, straight back to the client.
    let r = victim
        .get(logout_with(&stack, &earlier))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{POST_LOGOUT_URI}?state=bye")
    );
    // Signed in again, later.
    stack.code(&victim, "rp-basic", CHALLENGE).await;
    let attacker = stack.browser();
    let attackers = id_token(&stack, &attacker).await;

    for hint in [&earlier, &attackers] {
        let r = victim.get(logout_with(&stack, hint)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "a question, not a redirect");
        let page = r.text().await.unwrap();
        assert!(
            page.contains("Kas soovid ühisest sisselogimisest välja logida?"),
            "{page}"
        );
        assert!(!page.contains("Oled välja logitud"), "{page}");
        assert!(
            location(&victim, &silent(&stack, "rp-basic"))
                .await
                .contains("code="),
            "the victim's session is still live"
        );
    }
    assert!(
        location(&attacker, &silent(&stack, "rp-basic"))
            .await
            .contains("code="),
        "and so is the attacker's"
    );

    // Pressing the button ends the victim's own session and then goes back to the client.
    let page = victim
        .get(logout_with(&stack, &attackers))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = testkit::confirm_idp_logout(&victim, &stack.idp_url, &page).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{POST_LOGOUT_URI}?state=bye")
    );
    let after = location(&victim, &silent(&stack, "rp-basic")).await;
    assert!(after.contains("error=login_required"), "{after}");
}

#[tokio::test]
async fn a_hint_in_a_browser_with_no_session_says_nothing_was_signed_out() {
    let stack = Stack::start(|_| {}).await;
    let hint = id_token(&stack, &stack.browser()).await;
    let stranger = stack.browser();
    let r = stranger
        .get(format!("{}/logout?id_token_hint={hint}", stack.idp_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("Sa ei ole sisse logitud"), "{page}");
    assert!(!page.contains("Oled välja logitud"), "{page}");
}

/// Forty usernames posted at once from one address: the IdP's own pause after its limit holds
/// for the burst (the count is taken before the node is asked), not only for a series.
#[tokio::test]
async fn forty_sign_ins_at_once_from_one_address_ask_the_node_only_up_to_the_limit() {
    let stack = Stack::start(|c| c.signin_failures_per_address = 10).await;
    let mut forms = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let (browser, idp) = (stack.browser(), stack.idp_url.clone());
        let page_of = sign_in_page_url(&stack);
        forms.spawn(async move {
            let page = testkit::sign_in_page(&browser, &idp, &page_of).await;
            (browser, idp, page)
        });
    }
    let forms = forms.join_all().await;
    let mut answers = tokio::task::JoinSet::new();
    for (i, (browser, idp, page)) in forms.into_iter().enumerate() {
        answers.spawn(async move {
            let r = submit_idp_login(&browser, &idp, &page, &format!("Tundmatu {i}"), "x").await;
            r.text().await.unwrap()
        });
    }
    let answers = answers.join_all().await;
    let asked = answers
        .iter()
        .filter(|page| page.contains("Vale kasutajanimi või salasõna"))
        .count();
    let paused = answers
        .iter()
        .filter(|page| page.contains("Liiga palju ebaõnnestunud sisselogimiskatseid"))
        .count();
    assert_eq!((asked, paused), (10, 30), "ten passed on to the node");
}

fn sign_in_page_url(stack: &Stack) -> String {
    format!(
        "{}/authorize?client_id=rp-basic&redirect_uri={}&response_type=code&scope=openid&state=s1&code_challenge={CHALLENGE}&code_challenge_method=S256",
        stack.idp_url,
        urlencode(REDIRECT_URI)
    )
}

/// With its database gone, the IdP answers 503 with `Retry-After`, as README promises: on a
/// page (the linking page reads the person's links), at the token endpoint (`temporarily_unavailable`)
/// and at `/health/ready`. PostgreSQL only (the test closes the IdP's database to connections).
#[tokio::test]
async fn a_503_from_the_idp_says_when_to_come_back() {
    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        return;
    };
    let stack = Stack::start(|_| {}).await;
    let browser = stack.browser();
    let code = stack.code(&browser, "rp-basic", CHALLENGE).await;
    let url = stack.idp_config_database_url().unwrap();
    let name = url.rsplit('/').next().unwrap().to_owned();
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    for statement in [
        format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&pool)
            .await
            .unwrap();
    }

    let r = browser
        .get(format!("{}/link?from=jpk", stack.idp_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    let r = stack.exchange(&code).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(answer["error"], "temporarily_unavailable");
    let r = reqwest::get(format!("{}/health/ready", stack.idp_url))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "5");
}
