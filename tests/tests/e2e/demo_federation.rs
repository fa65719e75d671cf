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
            with_idp: false,
            ..Options::default()
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
        with_idp: false,
        ..Options::default()
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

/// Waits for a letter to `to` in an institution's mail folder and returns its text.
async fn letter_in_folder(folder: &std::path::Path, to: &str, containing: &str) -> String {
    let what = format!(
        "a letter to {to} with {containing:?} in {}",
        folder.display()
    );
    testkit::eventually(&what, std::time::Duration::from_secs(10), || async {
        let entries = std::fs::read_dir(folder).map_err(|e| e.to_string())?;
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let unfolded = text.replace("=\r\n", "").replace("=\n", "");
            if unfolded.contains(to) && unfolded.contains(containing) {
                return Ok(unfolded);
            }
        }
        Err("not there yet".to_owned())
    })
    .await
}

#[tokio::test]
async fn an_application_and_a_recovery_link_go_through_the_local_mail_folder() {
    let (federation, dir) = start().await;
    let client = browser(&federation);
    let laagri = Site {
        url: federation.node("laagri").unwrap().url(),
        client: &client,
    };
    let post = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let site = &laagri;
        async move {
            let (_, body, _) = site.get(path).await;
            let marker = "name=\"csrf\" value=\"";
            let start = body.find(marker).unwrap() + marker.len();
            let mut form = vec![("csrf", body[start..].split('"').next().unwrap().to_owned())];
            form.extend(fields);
            site.client
                .post(format!("{}{path}", site.url))
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    // Jaan Tamm applies at Laagri for Mia, a student there.
    let step_one = vec![
        ("children_codes", "61203150288".to_owned()),
        ("personal_code", "37605030299".to_owned()),
        ("first_name", "Jaan".to_owned()),
        ("last_name", "Tamm".to_owned()),
        ("email", "jaan.tamm@example.ee".to_owned()),
        ("phone", "5551234".to_owned()),
    ];
    assert_eq!(
        post("/apply", step_one).await.status(),
        StatusCode::SEE_OTHER
    );
    let done = post(
        "/apply/confirm",
        vec![("email_again", "jaan.tamm@example.ee".to_owned())],
    )
    .await;
    assert_eq!(done.headers()["location"], "/apply/done");
    let folder = dir.path().join("laagri").join("mail");
    letter_in_folder(&folder, "jaan.tamm@example.ee", "kontotaotlus on esitatud").await;

    // The director approves; the letter in the folder carries the temporary password.
    let admin_client = browser(&federation);
    let admin = Site {
        url: laagri.url.clone(),
        client: &admin_client,
    };
    admin
        .sign_in("juhataja@laagri.example.ee", DEMO_PASSWORD)
        .await;
    let (_, review, _) = admin.get("/admin/applications").await;
    assert!(review.contains("õpilane Mia Maasikas"), "{review}");
    let id = review
        .split("id=\"application-")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let marker = "name=\"csrf\" value=\"";
    let csrf = review[review.find(marker).unwrap() + marker.len()..]
        .split('"')
        .next()
        .unwrap();
    let approved = admin_client
        .post(format!("{}/admin/applications/{id}/approve", admin.url))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), StatusCode::SEE_OTHER);
    let letter = letter_in_folder(&folder, "jaan.tamm@example.ee", "Ajutine salas").await;
    let after = letter.split("Ajutine salas").nth(1).unwrap();
    let password = after
        .split(": ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let parent_client = browser(&federation);
    let parent = Site {
        url: laagri.url.clone(),
        client: &parent_client,
    };
    assert_eq!(
        parent.sign_in("jaan tamm", password).await.1.as_deref(),
        Some("/password")
    );

    // Mari asks for a sign-in link; it lands in the same folder.
    assert_eq!(
        post("/forgot", vec![("username", "Mari Maasikas".to_owned())])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let link_letter = letter_in_folder(&folder, "mari.maasikas@example.ee", "/reset/").await;
    assert!(
        link_letter.contains("http://laagri.localhost:"),
        "links point at the institution's own host"
    );
}
