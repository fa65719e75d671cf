//! Signing in at a school node through the IdP, end to end over HTTP, and the node's own
//! sign-in taking over when the IdP is down.

use federation_tests::{DEMO_PASSWORD, browser, browser_with, hidden, start, submit_idp_login};
use reqwest::StatusCode;
use reqwest::cookie::CookieStore;

#[tokio::test]
async fn a_node_signs_in_through_the_idp() {
    let (federation, _dir) = start(true).await;
    let client = browser(&federation);
    let jpk = federation.node("jpk").unwrap().url();
    let idp = federation.idp.as_ref().unwrap().url();

    // "Logi sisse" at the school goes to the IdP's page, branded with the school.
    let page = client.get(format!("{jpk}/login")).send().await.unwrap();
    assert!(
        page.url().as_str().starts_with(&format!("{idp}/login?r=")),
        "{}",
        page.url()
    );
    let body = page.text().await.unwrap();
    assert!(body.contains("Jõgeva Põhikool"), "{body}");
    assert!(body.contains(&format!("{jpk}/forgot")) && body.contains(&format!("{jpk}/apply")));

    let wrong = submit_idp_login(&client, &idp, &body, "MARI maasikas", "vale-parool").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_body = wrong.text().await.unwrap();
    assert!(
        wrong_body.contains("Vale kasutajanimi või salasõna."),
        "{wrong_body}"
    );

    let home = submit_idp_login(&client, &idp, &wrong_body, "MARI maasikas", DEMO_PASSWORD).await;
    assert_eq!(home.url().as_str(), format!("{jpk}/"));
    let home = home.text().await.unwrap();
    assert!(home.contains("Tere, Mari Maasikas!"), "{home}");

    // Signing in again at the same school needs no form while the IdP session lasts.
    let csrf = hidden(&home, "csrf");
    let out = client
        .post(format!("{jpk}/logout"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    // The IdP's page: which schools were signed out, a front-channel frame for each, and the way
    // back to the school.
    assert!(
        out.url().as_str().starts_with(&format!("{idp}/logout")),
        "{}",
        out.url()
    );
    let page = out.text().await.unwrap();
    assert!(
        page.contains("Oled välja logitud") && page.contains("Jõgeva Põhikool"),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "<iframe class=\"frontchannel\" src=\"{jpk}/sso/frontchannel-logout?iss="
        )),
        "{page}"
    );
    assert!(page.contains(&format!("{jpk}/logged-out")), "{page}");
    let again = client.get(format!("{jpk}/login")).send().await.unwrap();
    assert!(
        again.url().as_str().starts_with(&format!("{idp}/login?r=")),
        "sign-out ended the IdP session too: {}",
        again.url()
    );
}

#[tokio::test]
async fn the_idp_session_signs_in_again_without_a_form() {
    let (federation, _dir) = start(true).await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = browser_with(&federation, jar.clone());
    let jpk = federation.node("jpk").unwrap().url();
    let idp = federation.idp.as_ref().unwrap().url();
    let body = client
        .get(format!("{jpk}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let home = submit_idp_login(&client, &idp, &body, "jaan.tamm@example.ee", DEMO_PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    assert!(home.contains("Tere, Jaan Tamm!"), "{home}");

    // The school's session is gone (another browser tab's cookies cleared, say) but the IdP's
    // session remains: the school signs the person in again with no form.
    let idp_url: reqwest::Url = idp.parse().unwrap();
    let idp_cookie = jar.cookies(&idp_url).expect("an IdP session cookie");
    let only_idp = std::sync::Arc::new(reqwest::cookie::Jar::default());
    for cookie in idp_cookie.to_str().unwrap().split("; ") {
        only_idp.add_cookie_str(cookie, &idp_url);
    }
    let again = browser_with(&federation, only_idp);
    let page = again
        .get(format!("{jpk}/login?next=/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.url().as_str(), format!("{jpk}/profile"));
    assert!(page.text().await.unwrap().contains("jaan.tamm@example.ee"));
}

#[tokio::test]
async fn the_nodes_own_sign_in_takes_over_when_the_idp_is_down() {
    let (federation, _dir) = start(true).await;
    let idp = federation.idp.as_ref().unwrap();
    idp.task.abort();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while reqwest::get(format!("http://127.0.0.1:{}/health", idp.port))
            .await
            .is_ok()
        {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    let client = browser(&federation);
    let laagri = federation.node("laagri").unwrap().url();
    let page = client.get(format!("{laagri}/login")).send().await.unwrap();
    assert_eq!(page.url().as_str(), format!("{laagri}/login"));
    let body = page.text().await.unwrap();
    assert!(
        body.contains("Ühtne sisselogimine ei ole praegu saadaval"),
        "{body}"
    );
    let form = [
        ("csrf", hidden(&body, "csrf")),
        ("username", "Mari Maasikas".into()),
        ("password", DEMO_PASSWORD.into()),
        ("next", "/".into()),
    ];
    let home = client
        .post(format!("{laagri}/login"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("Tere, Mari Maasikas!") && home.contains("lapsevanem"),
        "{home}"
    );
}

#[tokio::test]
async fn a_forged_federation_request_is_refused() {
    let (federation, _dir) = start(true).await;
    let jpk = federation.node("jpk").unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/federation/v1/password-check", jpk.port);
    let body = serde_json::json!({"username": "Mari Maasikas", "password": DEMO_PASSWORD, "client_ip": "127.0.0.1"});
    let none = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let (key, _) = shared::jwt::SigningKey::generate(shared::jwt::Alg::ES256).unwrap();
    let now = shared::jwt::now();
    let claims = serde_json::json!({"iss": federation.idp.as_ref().unwrap().url(), "aud": "jpk", "iat": now, "exp": now + 60, "jti": "x"});
    let forged = key.sign("fed+jwt", claims.as_object().unwrap()).unwrap();
    let refused = client
        .post(&url)
        .bearer_auth(forged)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "a key the IdP does not publish"
    );
}

/// The node's own form, as a browser ends up on it after following every redirect.
async fn ends_on_the_nodes_own_form(client: &reqwest::Client, url: &str, notice: Option<&str>) {
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{url} ended on {}", r.url());
    let final_url = r.url().clone();
    let body = r.text().await.unwrap();
    assert!(
        body.contains("action=\"/login\"") && body.contains("name=\"password\""),
        "{url} → {final_url}: {body}"
    );
    if let Some(notice) = notice {
        assert!(
            body.contains(notice),
            "{url}: no notice {notice:?} in {body}"
        );
    }
}

#[tokio::test]
async fn every_way_to_the_nodes_own_form_ends_on_it() {
    let (federation, _dir) = start(true).await;
    let jpk = federation.node("jpk").unwrap().url();
    let client = browser(&federation);
    // As README writes it.
    ends_on_the_nodes_own_form(&client, &format!("{jpk}/login?local=1"), None).await;
    ends_on_the_nodes_own_form(&client, &format!("{jpk}/login?local"), None).await;
    // A callback with no sign-in waiting in this browser (opened in another one, say).
    ends_on_the_nodes_own_form(
        &client,
        &format!("{jpk}/sso/callback?code=abc&state=def"),
        Some("alustati teises brauseris"),
    )
    .await;
    // A sign-in cancelled at the IdP.
    let no_redirects = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(
            &federation.node("jpk").unwrap().host,
            std::net::SocketAddr::from(([127, 0, 0, 1], federation.node("jpk").unwrap().port)),
        )
        .build()
        .unwrap();
    let to_idp = no_redirects
        .get(format!("{jpk}/login"))
        .send()
        .await
        .unwrap();
    let location = to_idp.headers()["location"].to_str().unwrap().to_owned();
    let state = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state");
    let back = no_redirects
        .get(format!(
            "{jpk}/sso/callback?error=access_denied&state={state}"
        ))
        .send()
        .await
        .unwrap();
    let to = back.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(to, "/login?local=1&notice=cancelled");
    let page = no_redirects.get(format!("{jpk}{to}")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("katkestati"));
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_only_the_idp_may_frame_logout() {
    let (federation, _dir) = start(true).await;
    let client = browser(&federation);
    let jpk = federation.node("jpk").unwrap().url();
    let idp = federation.idp.as_ref().unwrap().url();
    let urls = [
        format!("{jpk}/login?local=1"),
        format!("{jpk}/no-such-page"),
        format!("{jpk}/federation/jwks.json"),
        format!("{idp}/.well-known/openid-configuration"),
        format!("{idp}/login?r=expired"),
        format!("{idp}/static/idp.css"),
    ];
    for url in &urls {
        let r = client.get(url).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{url}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && csp.contains("style-src 'self'"),
            "{url}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{url}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{url}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{url}");
        assert_eq!(h["referrer-policy"], "same-origin", "{url}");
        assert!(
            h.get("strict-transport-security").is_none(),
            "{url}: plain http"
        );
    }
    // No page has inline style or script for the policy to break.
    for url in [format!("{jpk}/login?local=1"), format!("{jpk}/apply")] {
        let page = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert!(
            !page.contains("<style") && !page.contains("style=\"") && !page.contains("<script"),
            "{url}"
        );
        assert!(page.contains("/static/site.css"), "{url}");
    }
    let css = client
        .get(format!("{jpk}/static/site.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    // The front-channel logout endpoint: framed by the IdP's origin and nobody else's.
    let r = client
        .get(format!(
            "{jpk}/sso/frontchannel-logout?iss={}&sid=x",
            testkit::urlencode(&idp)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains(&format!("frame-ancestors {idp};")), "{csp}");
    assert!(r.headers().get("x-frame-options").is_none());
}

/// Signs in with the school's own form (`/login?local=1`); returns the page it ends on.
async fn local_sign_in(
    client: &reqwest::Client,
    site: &str,
    username: &str,
    password: &str,
) -> String {
    let form = client
        .get(format!("{site}/login?local=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    client
        .post(format!("{site}/login"))
        .form(&[
            ("csrf", hidden(&form, "csrf")),
            ("username", username.to_owned()),
            ("password", password.to_owned()),
            ("next", "/".to_owned()),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Signs Mari in at jpk through the IdP in this browser.
async fn mari_through_the_idp(federation: &federation::Federation, client: &reqwest::Client) {
    let jpk = federation.node("jpk").unwrap().url();
    let idp = federation.idp.as_ref().unwrap().url();
    let page = client
        .get(format!("{jpk}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let home = submit_idp_login(client, &idp, &page, "Mari Maasikas", DEMO_PASSWORD).await;
    assert!(home.text().await.unwrap().contains("Tere, Mari Maasikas!"));
}

/// Where the browser ends up when it opens jpk's profile page.
async fn profile_lands_on(federation: &federation::Federation, client: &reqwest::Client) -> String {
    let jpk = federation.node("jpk").unwrap().url();
    let r = client.get(format!("{jpk}/profile")).send().await.unwrap();
    r.url().to_string()
}

#[tokio::test]
async fn a_new_password_ends_the_accounts_other_sessions_here_and_at_the_idp() {
    let (federation, _dir) = start(true).await;
    let jpk = federation.node("jpk").unwrap().url();
    let idp = federation.idp.as_ref().unwrap().url();
    let (a, b, c) = (
        browser(&federation),
        browser(&federation),
        browser(&federation),
    );
    mari_through_the_idp(&federation, &a).await;
    mari_through_the_idp(&federation, &b).await;
    // C signs in with the school's own form, not through the IdP.
    let home = local_sign_in(&c, &jpk, "Mari Maasikas", DEMO_PASSWORD).await;
    assert!(home.contains("Tere, Mari Maasikas!"));
    for browser in [&a, &b, &c] {
        assert_eq!(
            profile_lands_on(&federation, browser).await,
            format!("{jpk}/profile")
        );
    }

    // In A, Mari chooses a new password.
    let page = a
        .get(format!("{jpk}/password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let saved = a
        .post(format!("{jpk}/password"))
        .form(&[
            ("csrf", hidden(&page, "csrf")),
            ("current_password", DEMO_PASSWORD.to_owned()),
            ("password", "uus-salasona-2026".to_owned()),
            ("password_again", "uus-salasona-2026".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::OK, "{}", saved.url());

    // A stays; B's and C's sessions at the school are over, and B's IdP session too: opening
    // the school asks for a password again rather than signing B in silently.
    assert_eq!(
        profile_lands_on(&federation, &a).await,
        format!("{jpk}/profile")
    );
    for browser in [&b, &c] {
        let landed = profile_lands_on(&federation, browser).await;
        assert!(landed.starts_with(&format!("{idp}/login?r=")), "{landed}");
    }
}

#[tokio::test]
async fn a_temporary_password_is_replaced_on_the_idps_page_before_any_code() {
    let (federation, _dir) = start(true).await;
    let jpk = federation.node("jpk").unwrap().url();
    let idp = federation.idp.as_ref().unwrap().url();
    let client = browser(&federation);
    let page = client
        .get(format!("{jpk}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = submit_idp_login(&client, &idp, &page, "peeter uus", "78ecd619").await;
    // The browser is on the IdP's page, not back at the school with a code.
    assert!(
        r.url()
            .as_str()
            .starts_with(&format!("{idp}/login/password?c=")),
        "{}",
        r.url()
    );
    let form = r.text().await.unwrap();
    assert!(form.contains("Vali uus salasõna"), "{form}");

    // Another browser cannot use the step.
    let other = browser(&federation);
    let step = format!("{idp}/login/password?c={}", hidden(&form, "c"));
    let r = other.get(&step).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Too short, then good.
    let submit = |password: &'static str| {
        let client = client.clone();
        let fields = [
            ("c", hidden(&form, "c")),
            ("csrf", hidden(&form, "csrf")),
            ("password", password.to_owned()),
            ("password_again", password.to_owned()),
        ];
        let idp = idp.clone();
        async move {
            client
                .post(format!("{idp}/login/password"))
                .form(&fields)
                .send()
                .await
                .unwrap()
        }
    };
    let short = submit("lühike").await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.text().await.unwrap().contains("vähemalt 8 märki"));
    let done = submit("peetri-uus-2026").await;
    assert_eq!(done.url().as_str(), format!("{jpk}/"));
    assert!(done.text().await.unwrap().contains("Tere, Peeter Uus!"));

    // The school took the new password: the temporary one opens nothing any more.
    let local = browser(&federation);
    for (password, works) in [("78ecd619", false), ("peetri-uus-2026", true)] {
        let home = local_sign_in(&local, &jpk, "peeter uus", password).await;
        assert_eq!(
            home.contains("Tere, Peeter Uus!"),
            works,
            "{password}: {home}"
        );
    }
}
