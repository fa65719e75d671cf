//! The local demo federation as a browser sees it: every institution on its own host name,
//! the demo accounts of the README signing in, and each site keeping its own cookies.

use std::net::SocketAddr;

use federation::{DEMO_PASSWORD, Demo, Federation, Options};
use reqwest::StatusCode;

struct Site<'a> {
    url: String,
    client: &'a reqwest::Client,
}

impl Site<'_> {
    async fn get(&self, path: &str) -> (StatusCode, String, Option<String>) {
        let r = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (r.status(), r.text().await.unwrap(), location)
    }

    async fn sign_in(&self, username: &str, password: &str) -> (StatusCode, Option<String>) {
        let (_, body, _) = self.get("/login").await;
        let marker = "name=\"csrf\" value=\"";
        let start = body.find(marker).expect("a CSRF token on the sign-in page") + marker.len();
        let csrf = body[start..].split('"').next().unwrap();
        let r = self
            .client
            .post(format!("{}/login", self.url))
            .form(&[
                ("csrf", csrf),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        (
            r.status(),
            r.headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
        )
    }
}

/// One browser for the whole federation: a single cookie jar, host names mapped to loopback.
fn browser(federation: &Federation) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none());
    for node in &federation.nodes {
        builder = builder.resolve(&node.host, SocketAddr::from(([127, 0, 0, 1], node.port)));
    }
    builder.build().unwrap()
}

async fn start() -> (Federation, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::parse(federation::DEMO).unwrap();
    let running = federation::start(
        &demo,
        &Options {
            data_dir: dir.path().to_path_buf(),
            fixed_ports: false,
        },
    )
    .await
    .unwrap();
    (running, dir)
}

#[tokio::test]
async fn three_institutions_with_their_demo_accounts_and_separate_cookies() {
    let (federation, _dir) = start().await;
    let names: Vec<&str> = federation.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        ["Jõgeva Põhikool", "Laagri Huvialakool", "Nõo Muusikakool"]
    );
    let client = browser(&federation);
    let site = |id: &str| {
        let node = federation.node(id).unwrap();
        Site {
            url: node.url(),
            client: &client,
        }
    };
    let (jpk, laagri, muusikakool) = (site("jpk"), site("laagri"), site("muusikakool"));

    assert_eq!(
        jpk.sign_in("MARI maasikas", DEMO_PASSWORD).await,
        (StatusCode::SEE_OTHER, Some("/".into()))
    );
    let (_, home, _) = jpk.get("/").await;
    assert!(
        home.contains("Tere, Mari Maasikas!") && home.contains("õpetaja"),
        "{home}"
    );
    // Another host name keeps its own cookies: not signed in at Laagri yet.
    assert_eq!(laagri.get("/").await.2.as_deref(), Some("/login?next=/"));

    assert_eq!(
        laagri
            .sign_in("mari.maasikas@example.ee", DEMO_PASSWORD)
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    let (_, home, _) = laagri.get("/").await;
    assert!(
        home.contains("lapsevanem") && home.contains("Mia Maasikas"),
        "{home}"
    );

    assert_eq!(
        muusikakool.sign_in("Jaan Tamm", DEMO_PASSWORD).await.0,
        StatusCode::SEE_OTHER
    );
    let (_, home, _) = muusikakool.get("/").await;
    assert!(home.contains("Juku Tamm"), "{home}");
    assert!(muusikakool.get("/").await.1.contains("Nõo Muusikakool"));
}

#[tokio::test]
async fn demo_accounts_show_the_special_cases() {
    let (federation, _dir) = start().await;
    let client = browser(&federation);
    let jpk = Site {
        url: federation.node("jpk").unwrap().url(),
        client: &client,
    };
    // Two Kati Kasks: the name alone is ambiguous.
    let (status, _) = jpk.sign_in("Kati Kask", DEMO_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Peeter Uus has a temporary password to change first.
    assert_eq!(
        jpk.sign_in("peeter uus", "78ecd619").await.1.as_deref(),
        Some("/password")
    );
    // The director administers.
    let admin_client = browser(&federation);
    let admin = Site {
        url: jpk.url.clone(),
        client: &admin_client,
    };
    admin
        .sign_in("direktor@jpk.example.ee", DEMO_PASSWORD)
        .await;
    let (status, body, _) = admin.get("/admin/accounts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Juku") && body.contains("50001010006"),
        "{body}"
    );
}

#[tokio::test]
async fn restarting_keeps_data_and_does_not_seed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::parse(federation::DEMO).unwrap();
    let options = Options {
        data_dir: dir.path().to_path_buf(),
        fixed_ports: false,
    };
    let first = federation::start(&demo, &options).await.unwrap();
    for node in &first.nodes {
        node.task.abort();
    }
    let second = federation::start(&demo, &options).await.unwrap();
    let client = browser(&second);
    let jpk = Site {
        url: second.node("jpk").unwrap().url(),
        client: &client,
    };
    // Still exactly one Jaan Tamm: the name is not ambiguous after a restart.
    assert_eq!(
        jpk.sign_in("jaan tamm", DEMO_PASSWORD).await.0,
        StatusCode::SEE_OTHER
    );
}
