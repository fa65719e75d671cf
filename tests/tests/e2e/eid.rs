//! ID-card and Smart-ID through an upstream provider (issue 7), end to end with the project's
//! test broker (TARA's behaviour): sign-in by personal code, an unknown code, every refused
//! answer creating no session, and an eID sign-in as the proof for linking.

use federation::broker::Tamper;
use federation::{Federation, broker::Broker};
use federation_tests::{DEMO_PASSWORD, browser, hidden, start, submit_idp_login};
use reqwest::StatusCode;

const MARI: usize = 0;
const JUKU: usize = 2;
const UNKNOWN: usize = 3;

fn broker(federation: &Federation) -> &Broker {
    &federation
        .broker
        .as_ref()
        .expect("the demo has a broker")
        .broker
}

/// A page's text.
async fn text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The IdP's sign-in page that the node's "Logi sisse" leads to.
async fn sign_in_page(federation: &Federation, client: &reqwest::Client, node: &str) -> String {
    text(
        client,
        &format!("{}/login", federation.node(node).unwrap().url()),
    )
    .await
}

/// On an IdP sign-in page, presses `method`; returns the broker's page.
async fn broker_page(
    federation: &Federation,
    client: &reqwest::Client,
    sign_in_page: &str,
    method: &str,
) -> String {
    let idp = federation.idp.as_ref().unwrap().url();
    assert!(
        sign_in_page.contains(&format!("data-upstream=\"{method}\"")),
        "{sign_in_page}"
    );
    let r = hidden(sign_in_page, "r");
    let at_broker = client
        .get(format!("{idp}/upstream/{method}/start?r={r}"))
        .send()
        .await
        .unwrap();
    let broker_url = federation.broker.as_ref().unwrap().url();
    assert!(
        at_broker.url().as_str().starts_with(&broker_url),
        "{}",
        at_broker.url()
    );
    at_broker.text().await.unwrap()
}

/// The value of `name` in a URL's query.
fn query_value(url: &reqwest::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// Opens the node's sign-in, presses the eID button `method` and picks test person `person`
/// at the broker; returns the last answer.
async fn eid_sign_in(
    federation: &Federation,
    client: &reqwest::Client,
    node: &str,
    method: &str,
    person: usize,
) -> reqwest::Response {
    let page = sign_in_page(federation, client, node).await;
    pick(federation, client, &page, method, person).await
}

/// On an IdP sign-in page, presses `method` and picks `person` at the broker.
async fn pick(
    federation: &Federation,
    client: &reqwest::Client,
    sign_in_page: &str,
    method: &str,
    person: usize,
) -> reqwest::Response {
    let page = broker_page(federation, client, sign_in_page, method).await;
    assert!(
        page.contains(&format!(
            "Testtuvastus: {}",
            if method == "smartid" {
                "smartid"
            } else {
                "idcard"
            }
        )),
        "{page}"
    );
    let broker_url = federation.broker.as_ref().unwrap().url();
    client
        .post(format!("{broker_url}/oidc/authorize"))
        .form(&[
            ("request", hidden(&page, "request")),
            ("person", person.to_string()),
        ])
        .send()
        .await
        .unwrap()
}

/// Whether the browser is signed in at the node (its profile opens).
async fn signed_in(federation: &Federation, client: &reqwest::Client, node: &str) -> bool {
    let url = federation.node(node).unwrap().url();
    let r = client.get(format!("{url}/profile")).send().await.unwrap();
    r.url().as_str() == format!("{url}/profile")
}

#[tokio::test]
async fn id_card_and_smart_id_sign_in_by_personal_code() {
    let (federation, _dir) = start(true).await;
    for method in ["idcard", "smartid"] {
        let client = browser(&federation);
        let home = eid_sign_in(&federation, &client, "jpk", method, MARI).await;
        let jpk = federation.node("jpk").unwrap().url();
        assert_eq!(home.url().as_str(), format!("{jpk}/"), "{method}");
        let home = home.text().await.unwrap();
        assert!(home.contains("Tere, Mari Maasikas!"), "{home}");
        // The account at Laagri is not linked: it asks for a sign-in there.
        assert!(signed_in(&federation, &client, "jpk").await);
    }

    // Juku has no password: after signing in with ID-kaart he is asked to set one and to
    // complete his profile, and he can.
    let client = browser(&federation);
    let home = eid_sign_in(&federation, &client, "jpk", "idcard", JUKU)
        .await
        .text()
        .await
        .unwrap();
    assert!(home.contains("Tere, Juku Tamm!"), "{home}");
    assert!(home.contains("data-notice=\"complete-profile\""), "{home}");
    let jpk = federation.node("jpk").unwrap().url();
    let profile = text(&client, &format!("{jpk}/profile")).await;
    let saved = client
        .post(format!("{jpk}/profile"))
        .form(&[
            ("csrf", hidden(&profile, "csrf").as_str()),
            ("email", "juku@example.ee"),
            ("phone", ""),
            ("address", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.url().as_str(), format!("{jpk}/profile"));
    // He has no password yet: the profile's password form asks for no current one.
    let profile = text(&client, &format!("{jpk}/profile")).await;
    assert!(!profile.contains("current_password"), "{profile}");
    let saved = client
        .post(format!("{jpk}/profile/password"))
        .form(&[
            ("csrf", hidden(&profile, "csrf").as_str()),
            ("password", "juku-uus-parool"),
            ("password_again", "juku-uus-parool"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.url().as_str(), format!("{jpk}/profile"));
    let home = client
        .get(format!("{jpk}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!home.contains("data-notice=\"complete-profile\""), "{home}");

    // A person with no account at the school gets the ways to get one, and no session.
    let client = browser(&federation);
    let page = eid_sign_in(&federation, &client, "jpk", "idcard", UNKNOWN).await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let page = page.text().await.unwrap();
    let jpk = federation.node("jpk").unwrap().url();
    assert!(
        page.contains("data-notice=\"unknown-personal-code\""),
        "{page}"
    );
    assert!(page.contains(&format!("{jpk}/apply")), "{page}");
    assert!(!signed_in(&federation, &client, "jpk").await);
}

#[tokio::test]
async fn bad_upstream_answers_are_refused_and_create_no_session() {
    let (federation, _dir) = start(true).await;
    let cases = [
        (Tamper::WrongIssuer, "idcard"),
        (Tamper::WrongAudience, "idcard"),
        (Tamper::WrongNonce, "idcard"),
        (Tamper::BadSignature, "idcard"),
        (Tamper::Expired, "idcard"),
        (Tamper::NoSub, "idcard"),
        (Tamper::InvalidPersonalCode, "idcard"),
        (Tamper::Amr("mID".into()), "idcard"),
        (Tamper::Amr("idcard".into()), "smartid"),
        (Tamper::Acr("low".into()), "idcard"),
        (Tamper::NoIssInResponse, "idcard"),
    ];
    for (tamper, method) in cases {
        broker(&federation).tamper(Some(tamper.clone()));
        let client = browser(&federation);
        let answer = eid_sign_in(&federation, &client, "jpk", method, MARI).await;
        assert!(
            answer.status().is_client_error(),
            "{tamper:?}: {}",
            answer.status()
        );
        let page = answer.text().await.unwrap();
        assert!(
            page.contains("ID-kaardi või Smart-IDga sisselogimine ei õnnestunud"),
            "{tamper:?}: {page}"
        );
        assert!(
            !signed_in(&federation, &client, "jpk").await,
            "{tamper:?} made a session"
        );
    }
    broker(&federation).tamper(None);

    // The person cancels at the broker.
    let client = browser(&federation);
    let idp = federation.idp.as_ref().unwrap().url();
    let sign_in = sign_in_page(&federation, &client, "jpk").await;
    let page = broker_page(&federation, &client, &sign_in, "idcard").await;
    let broker_url = federation.broker.as_ref().unwrap().url();
    let cancelled = client
        .post(format!("{broker_url}/oidc/authorize"))
        .form(&[
            ("request", hidden(&page, "request")),
            ("cancel", "1".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::UNAUTHORIZED);
    assert!(
        cancelled
            .text()
            .await
            .unwrap()
            .contains("Sisselogimine katkestati.")
    );

    // An answer with a state this IdP did not give, or gave another upstream, is refused.
    let page = broker_page(&federation, &client, &sign_in, "idcard").await;
    let running_broker = federation.broker.as_ref().unwrap();
    let chosen = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(
            &running_broker.host,
            std::net::SocketAddr::from(([127, 0, 0, 1], running_broker.port)),
        )
        .build()
        .unwrap()
        .post(format!("{broker_url}/oidc/authorize"))
        .form(&[
            ("request", hidden(&page, "request")),
            ("person", "0".into()),
        ])
        .send()
        .await
        .unwrap();
    let location = reqwest::Url::parse(chosen.headers()["location"].to_str().unwrap()).unwrap();
    let (code, state) = (
        query_value(&location, "code"),
        query_value(&location, "state"),
    );
    for (path, state) in [
        ("idcard", "not-the-state".to_owned()),
        ("smartid", state.clone()),
    ] {
        let refused = client
            .get(format!(
                "{idp}/upstream/{path}/callback?code={code}&state={state}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{path} {state}");
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("Vastus ei kuulu selle sisselogimise juurde.")
        );
    }
    assert!(!signed_in(&federation, &client, "jpk").await);
}

#[tokio::test]
async fn an_id_card_sign_in_proves_the_account_for_linking() {
    let (federation, _dir) = start(true).await;
    let client = browser(&federation);
    let idp = federation.idp.as_ref().unwrap().url();
    let jpk = federation.node("jpk").unwrap().url();
    let page = sign_in_page(&federation, &client, "jpk").await;
    let home = submit_idp_login(&client, &idp, &page, "Mari Maasikas", DEMO_PASSWORD).await;
    assert_eq!(home.url().as_str(), format!("{jpk}/"));
    // Link jpk to Laagri, proving the account there with ID-kaart instead of its password.
    let sign_in_there = client
        .get(format!("{idp}/link/with?from=jpk&to=laagri"))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in_there.url().path(), "/login");
    let page = sign_in_there.text().await.unwrap();
    assert!(page.contains("Laagri Huvialakool"), "{page}");
    let review = pick(&federation, &client, &page, "idcard", MARI).await;
    assert_eq!(review.status(), StatusCode::OK);
    let review = review.text().await.unwrap();
    assert!(review.contains("name=\"review\""), "{review}");
    let done = client
        .post(format!("{idp}/link/confirm"))
        .form(&[
            ("review", hidden(&review, "review")),
            ("csrf", hidden(&review, "csrf")),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.contains("Kontod on seotud"), "{done}");
    // And now Laagri opens without a form.
    let laagri = federation.node("laagri").unwrap().url();
    let opened = client
        .get(format!("{laagri}/sso/start?next=/"))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.url().as_str(), format!("{laagri}/"));
    assert!(
        opened
            .text()
            .await
            .unwrap()
            .contains("Tere, Mari Maasikas!")
    );
}

#[tokio::test]
async fn an_eid_answer_opened_in_another_browser_signs_no_one_in() {
    let (federation, _dir) = start(true).await;
    let victim = browser(&federation);
    let page = sign_in_page(&federation, &victim, "jpk").await;
    let at_broker = broker_page(&federation, &victim, &page, "idcard").await;
    // The broker's answer (its redirect back to the IdP), caught before a browser follows it.
    let broker_url = federation.broker.as_ref().unwrap().url();
    let catcher = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(
            &federation.broker.as_ref().unwrap().host,
            std::net::SocketAddr::from(([127, 0, 0, 1], federation.broker.as_ref().unwrap().port)),
        )
        .build()
        .unwrap();
    let answer = catcher
        .post(format!("{broker_url}/oidc/authorize"))
        .form(&[
            ("request", hidden(&at_broker, "request")),
            ("person", MARI.to_string()),
        ])
        .send()
        .await
        .unwrap();
    let callback = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        callback.contains("/upstream/idcard/callback?code="),
        "{callback}"
    );

    // Another browser opens it: nothing happens there but a page that says so.
    let other = browser(&federation);
    let r = other.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body = r.text().await.unwrap();
    assert!(body.contains("alustati teises brauseris"), "{body}");
    assert!(!signed_in(&federation, &other, "jpk").await);
    assert!(!signed_in(&federation, &victim, "jpk").await);
}

/// The person's language goes along the whole chain: the school's switch, `ui_locales` to the
/// IdP, whose pages speak it, and `ui_locales` from the IdP to the eID upstream (TARA shows
/// its pages in et, en and ru).
#[tokio::test]
async fn russian_chosen_at_the_school_reaches_the_eid_broker() {
    let (federation, _dir) = start(true).await;
    let client = browser(&federation);
    let jpk = federation.node("jpk").unwrap().url();
    let back = client
        .get(format!("{jpk}/lang/ru"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(back.contains("<html lang=\"ru\""), "{back}");
    let page = sign_in_page(&federation, &client, "jpk").await;
    assert!(page.contains("<html lang=\"ru\""), "{page}");
    assert!(page.contains("Войти"), "{page}");
    broker_page(&federation, &client, &page, "idcard").await;
    assert_eq!(broker(&federation).last_ui_locales().as_deref(), Some("ru"));
    // The Estonian default asks for Estonian.
    let estonian = browser(&federation);
    let page = sign_in_page(&federation, &estonian, "jpk").await;
    broker_page(&federation, &estonian, &page, "idcard").await;
    assert_eq!(broker(&federation).last_ui_locales().as_deref(), Some("et"));
}
