//! Starts a real school node on a free port for a test, on the back ends the environment names:
//! SQLite and in-memory state by default; `TEST_DATABASE_URL` (a PostgreSQL server: each node
//! gets a database of its own) and `TEST_REDIS_URL` (each node gets a key prefix of its own).
//! A back end that is named but not reachable fails the test; it never falls back.

#![allow(dead_code)]

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};
use school_node::service::accounts::{self, PersonalDataInput};
use school_node::service::passwords::Secret;
use school_node::state::AppState;
use school_node::store::accounts::Role;
use school_node::{Application, Config};

pub struct TestNode {
    pub url: String,
    pub state: AppState,
    pub config: Config,
    _dir: tempfile::TempDir,
}

/// A fresh PostgreSQL database on the server of `TEST_DATABASE_URL`, or None for SQLite.
pub async fn fresh_database() -> Option<String> {
    testkit::fresh_database("sn_test").await
}

/// A Redis server of the test's own (to stop, or to turn read-only), and its URL.
pub async fn own_redis() -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let redis = tokio::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server runs: TEST_REDIS_URL says Redis is installed");
    testkit::eventually(
        "the test's Redis is up",
        Duration::from_secs(10),
        || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )
    .await;
    (redis, format!("redis://127.0.0.1:{port}"))
}

pub fn test_config(dir: &std::path::Path) -> Config {
    Config {
        institution_id: "jpk".into(),
        institution_name: "Jõgeva Põhikool".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: "http://127.0.0.1".into(),
        data_dir: dir.to_path_buf(),
        redis_url: std::env::var("TEST_REDIS_URL").ok(),
        redis_prefix: Some(format!("test:{}:", uuid::Uuid::new_v4().simple())),
        ..Config::default()
    }
}

impl TestNode {
    pub async fn spawn() -> TestNode {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        config.database_url = fresh_database().await;
        adjust(&mut config);
        Self::start(config, dir).await
    }

    /// A node that sends its mail to `smtp`, retrying quickly.
    pub async fn spawn_with_smtp(smtp: &testkit::smtp::SmtpServer) -> TestNode {
        Self::spawn_with_smtp_and(smtp, |_| {}).await
    }

    /// As `spawn_with_smtp`, with more settings.
    pub async fn spawn_with_smtp_and(
        smtp: &testkit::smtp::SmtpServer,
        adjust: impl FnOnce(&mut Config),
    ) -> TestNode {
        let port = smtp.port;
        Self::spawn_with(|c| {
            c.mail.transport = school_node::mail::TransportKind::Smtp;
            c.mail.smtp_host = "127.0.0.1".into();
            c.mail.smtp_port = port;
            c.mail.smtp_security = school_node::mail::Security::None;
            c.mail.from = "robot@jpk.example.ee".into();
            c.mail.poll_millis = 100;
            c.mail.retry_base_millis = 100;
            c.mail.retry_max_millis = 400;
            adjust(c);
        })
        .await
    }

    pub async fn unsent_mail(&self) -> i64 {
        school_node::store::outbox::unsent_count(&self.state.db)
            .await
            .unwrap()
    }

    pub async fn application_count(&self) -> i64 {
        school_node::store::applications::count(&self.state.db)
            .await
            .unwrap()
    }

    /// The path of a link on this node.
    pub fn path_of(&self, link: &str) -> String {
        let start = link
            .find("/reset/")
            .unwrap_or_else(|| panic!("not a sign-in link: {link}"));
        link[start..].to_owned()
    }

    /// A second instance of the same node: same database, same Redis keys.
    pub async fn another_instance(&self) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let mut config = self.config.clone();
        if config.database_url.is_none() {
            config.database_url = Some(format!(
                "sqlite://{}?mode=rwc",
                self.config.data_dir.join("school-node.db").display()
            ));
        }
        Self::start(config, dir).await
    }

    async fn start(config: Config, dir: tempfile::TempDir) -> TestNode {
        let app = Application::build(config.clone())
            .await
            .expect("the node starts");
        let url = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        tokio::spawn(app.run());
        TestNode {
            url,
            state,
            config,
            _dir: dir,
        }
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.url)
    }

    /// Creates an account with a password the person chose (not temporary); returns its id.
    pub async fn account(
        &self,
        first: &str,
        last: &str,
        email: Option<&str>,
        code: Option<&str>,
        roles: &[Role],
        password: &str,
    ) -> String {
        let input = PersonalDataInput {
            first_name: first.into(),
            last_name: last.into(),
            email: email.unwrap_or("").into(),
            personal_code: code.unwrap_or("").into(),
            ..Default::default()
        };
        let id = accounts::create(&self.state.db, &input, roles, None)
            .await
            .expect("account created");
        let pw = Secret::new(password);
        accounts::change_password(&self.state.db, &id, &pw, &pw, None)
            .await
            .unwrap();
        id
    }

    /// Mari Maasikas, a teacher with the e-mail mari@example.ee and the password maasikad-2024.
    pub async fn mari(&self) -> String {
        self.account(
            "Mari",
            "Maasikas",
            Some("mari@example.ee"),
            None,
            &[Role::Teacher],
            "maasikad-2024",
        )
        .await
    }

    /// Anne Direktor, the school's administrator, with the password direktori-pw.
    pub async fn director(&self) -> String {
        self.account(
            "Anne",
            "Direktor",
            None,
            None,
            &[Role::Admin],
            "direktori-pw",
        )
        .await
    }

    /// A browser in which the director (see [`TestNode::director`]) has signed in.
    pub async fn director_signed_in(&self) -> Browser {
        let browser = self.browser();
        browser
            .sign_in_ok("anne direktor", "direktori-pw", "Anne Direktor")
            .await;
        browser
    }

    /// A browser in which Mari (see [`TestNode::mari`]) has signed in.
    pub async fn mari_signed_in(&self) -> Browser {
        let browser = self.browser();
        browser
            .sign_in_ok("Mari Maasikas", "maasikad-2024", "Mari Maasikas")
            .await;
        browser
    }

    pub async fn get_account(&self, id: &str) -> accounts::Account {
        accounts::get(&self.state.db, id).await.unwrap()
    }

    pub async fn account_count(&self) -> i64 {
        school_node::store::accounts::count(&self.state.db)
            .await
            .unwrap()
    }
}

/// A browser: one cookie jar, redirects shown rather than followed.
#[derive(Clone)]
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    /// The first CSRF token in the page's forms.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no CSRF token in page:\n{}", self.body))
            + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    pub fn assert_contains(&self, text: &str) {
        assert!(
            self.body.contains(text),
            "expected {text:?} in page ({}):\n{}",
            self.status,
            self.body
        );
    }

    pub fn assert_redirect(&self, to: &str) {
        assert!(
            self.status.is_redirection(),
            "expected a redirect to {to}, got {}:\n{}",
            self.status,
            self.body
        );
        assert_eq!(self.location(), Some(to));
    }
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self::with_language(base, "et")
    }

    pub fn with_language(base: &str, lang: &str) -> Self {
        Self::with_headers(base, lang, None)
    }

    /// A browser at another address (the node must trust `X-Forwarded-For`).
    pub fn from_address(base: &str, addr: &str) -> Self {
        Self::with_headers(base, "et", Some(addr))
    }

    fn with_headers(base: &str, lang: &str, addr: Option<&str>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::ACCEPT_LANGUAGE, lang.parse().unwrap());
        if let Some(addr) = addr {
            headers.insert("x-forwarded-for", addr.parse().unwrap());
        }
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            base: base.to_owned(),
            client,
        }
    }

    async fn page(response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Self::page(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        Self::page(
            self.client
                .post(format!("{}{path}", self.base))
                .form(fields)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Opens `form_page`, takes its CSRF token and posts `fields` with it to `action`.
    pub async fn submit(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Page {
        self.submit(
            "/login",
            "/login",
            &[("username", username), ("password", password)],
        )
        .await
    }

    /// Signs in and checks that the dashboard greets `name`.
    pub async fn sign_in_ok(&self, username: &str, password: &str, name: &str) {
        let page = self.sign_in(username, password).await;
        page.assert_redirect("/");
        self.get("/")
            .await
            .assert_contains(&format!("Tere, {name}!"));
    }

    pub async fn upload(&self, path: &str, csrf: &str, file: Vec<u8>) -> Page {
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(file)
                    .file_name("students.csv")
                    .mime_str("text/csv")
                    .unwrap(),
            );
        Self::page(
            self.client
                .post(format!("{}{path}", self.base))
                .multipart(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}
