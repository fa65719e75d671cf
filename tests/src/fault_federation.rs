//! A federation of real processes for the fault-injection suite and the scale harness: the
//! `idp` and `school-node` binaries on a PostgreSQL and a Redis server of the suite's own — one
//! school (`jpk`) and as many more as asked (`kool0`, `kool1`, …), each with its own database,
//! whose accounts can be linked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use idp::store::persons::{self, Link, Timing};
use school_node::service::accounts::{self, PersonalDataInput};
use school_node::service::passwords::Secret;
use school_node::store::accounts::Role;
use shared::profile::SharedProfile;

use crate::processes::{OwnPostgres, OwnRedis, Service, free_port};

pub const SECRET: &str = "6a0f5b3c2d1e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a";
pub const PASSWORD: &str = "kooli-parool-2026";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "http://127.0.0.1:9/cb";
const FIRST: [&str; 2] = ["Mari", "Jaan"];
const LAST: [&str; 10] = [
    "Kask", "Tamm", "Saar", "Mets", "Ilves", "Lepp", "Kuusk", "Pärn", "Sepp", "Rebane",
];

#[derive(Clone)]
pub struct Options {
    /// Mail goes by SMTP to this port (else to files).
    pub smtp_port: Option<u16>,
    pub mail_deadline_seconds: u64,
    pub logout_deadline_seconds: Option<i64>,
    /// More school nodes registered (`k0`, `k1`, …), that nobody calls: a registry at scale.
    pub extra_nodes: usize,
    /// More real schools (`kool0`, `kool1`, …), whose accounts can be linked with `jpk`'s.
    pub schools: usize,
    /// The IdP reaches every real school's back-channel logout endpoint over a link that holds
    /// each request this long (a slow network; the schools themselves answer at once).
    pub slow_backchannel: Option<Duration>,
    /// How often the outbox workers look for work besides being woken (retries wait for it):
    /// often for the fault suite, whose deadlines are seconds.
    pub poll_millis: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            smtp_port: None,
            mail_deadline_seconds: 3600,
            logout_deadline_seconds: None,
            extra_nodes: 0,
            schools: 0,
            slow_backchannel: None,
            poll_millis: 100,
        }
    }
}

/// A school node's process, its database, and where its metrics are served.
pub struct School {
    pub id: String,
    pub service: Service,
    pub db: school_node::store::Database,
    metrics_port: u16,
}

impl School {
    pub fn url(&self) -> String {
        self.service.url()
    }

    /// The node's `node_backchannel_logouts_total` by outcome since the process started:
    /// (tokens that ended sessions, valid tokens that found nothing left to end).
    pub async fn backchannel_logouts(&self) -> anyhow::Result<(u64, u64)> {
        let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .await?
            .error_for_status()?
            .text()
            .await?;
        let count = |outcome: &str| {
            let series = format!("node_backchannel_logouts_total{{outcome=\"{outcome}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(series.as_str()))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map_or(0, |v| v as u64)
        };
        Ok((count("ended"), count("nothing_to_end")))
    }
}

pub struct Federation {
    pub idp: Service,
    /// The school (`jpk`) whose people the suite creates.
    pub node: School,
    /// More real schools (`kool0`, …), as many as the options asked for.
    pub schools: Vec<School>,
    pub idp_db: idp::store::Database,
    /// Username → account id at the node.
    pub persons: BTreeMap<String, String>,
    pub dir: PathBuf,
}

impl Federation {
    pub async fn start(
        name: &str,
        root: &Path,
        pg: &OwnPostgres,
        redis: &OwnRedis,
        options: Options,
    ) -> anyhow::Result<Self> {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir)?;
        let idp_url = pg.create_database(&format!("idp_{name}")).await?;
        let idp_port = free_port();
        let issuer = format!("http://127.0.0.1:{idp_port}");
        let mut planned = vec![("jpk".to_owned(), "Jõgeva Põhikool".to_owned())];
        planned.extend((0..options.schools).map(|i| (format!("kool{i}"), format!("Kool {i}"))));
        let mut registered = String::new();
        let mut schools = Vec::new();
        for (id, school_name) in &planned {
            let port = free_port();
            let backchannel_port = match options.slow_backchannel {
                Some(delay) => slow_link(port, delay).await?,
                None => port,
            };
            registered.push_str(&school_client(id, school_name, port, backchannel_port));
            let db_url = pg.create_database(&format!("{id}_{name}")).await?;
            let service = school(
                id,
                school_name,
                port,
                &dir,
                &db_url,
                redis,
                &issuer,
                &options,
            )?;
            schools.push((id.clone(), service, db_url));
        }
        let clients = dir.join("clients.toml");
        registered.push_str(&clients_file(options.extra_nodes));
        std::fs::write(&clients, registered)?;
        let mut idp_env = vec![
            ("ISSUER", issuer.clone()),
            ("LISTEN", format!("127.0.0.1:{idp_port}")),
            ("DATABASE_URL", idp_url.clone()),
            ("REDIS_URL", redis.url()),
            ("REDIS_PREFIX", format!("idp:{name}:")),
            ("CLIENTS_FILE", clients.display().to_string()),
            ("DATA_DIR", dir.join("idp").display().to_string()),
            ("DELIVERY_POLL_MILLIS", options.poll_millis.to_string()),
            ("DELIVERY_RETRY_BASE_MILLIS", "200".into()),
            ("DELIVERY_RETRY_MAX_MILLIS", "1000".into()),
            ("SHUTDOWN_GRACE_SECONDS", "10".into()),
        ];
        if let Some(s) = options.logout_deadline_seconds {
            idp_env.push(("LOGOUT_DEADLINE_SECONDS", s.to_string()));
        }
        let mut idp = Service::new("idp", "idp", "IDP_", idp_port, &dir, &idp_env)?;
        idp.start().await?;
        let mut started = Vec::new();
        for (id, (mut service, metrics_port), db_url) in schools {
            service.start().await?;
            let db =
                school_node::store::Database::connect(&db_url, &school_node::store::MIGRATIONS)
                    .await?;
            started.push(School {
                id,
                service,
                db,
                metrics_port,
            });
        }
        let node = started.remove(0);
        let idp_db = idp::store::Database::connect(&idp_url, &idp::store::MIGRATIONS).await?;
        Ok(Federation {
            idp,
            node,
            schools: started,
            idp_db,
            persons: BTreeMap::new(),
            dir,
        })
    }

    /// Creates `n` people at the node (a teacher each, with e-mail) and returns their usernames.
    pub async fn people(&mut self, n: usize) -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        for i in 0..n {
            let (first, last) = (FIRST[i / LAST.len() % FIRST.len()], LAST[i % LAST.len()]);
            let email = format!("isik{i}@example.ee");
            let input = PersonalDataInput {
                first_name: first.into(),
                last_name: last.into(),
                email: email.clone(),
                ..Default::default()
            };
            let id = accounts::create(&self.node.db, &input, &[Role::Teacher], None).await?;
            let pw = Secret::new(PASSWORD);
            accounts::change_password(&self.node.db, &id, &pw, &pw, None).await?;
            let username = format!("{first} {last}");
            self.persons.insert(username.clone(), id);
            names.push(username);
        }
        Ok(names)
    }

    /// A browser that does not follow redirects, so each hop can be looked at.
    pub fn browser() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .expect("a client")
    }

    /// A silent single sign-on hop to the node, as its nav bar starts one.
    pub fn silent_sso(&self) -> String {
        let callback: String = format!("{}/sso/callback", self.node.url())
            .bytes()
            .map(|b| match b {
                b':' => "%3A".to_owned(),
                b'/' => "%2F".to_owned(),
                b => (b as char).to_string(),
            })
            .collect();
        format!(
            "{}/authorize?client_id=jpk&redirect_uri={callback}&response_type=code&scope=openid&state=s&prompt=none&code_challenge={CHALLENGE}&code_challenge_method=S256",
            self.idp.url()
        )
    }

    /// An authorization request for `client` (PKCE with the fixed verifier), silent or not.
    pub fn authorize_url(&self, client: &str, silent: bool) -> String {
        let url = self.authorize(client);
        if silent {
            format!("{url}&prompt=none")
        } else {
            url
        }
    }

    /// Redeems a code issued to `client` for tokens.
    pub async fn redeem(&self, client: &str, code: &str) -> anyhow::Result<serde_json::Value> {
        Ok(reqwest::Client::new()
            .post(format!("{}/token", self.idp.url()))
            .basic_auth(client, Some(SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    fn authorize(&self, client: &str) -> String {
        format!(
            "{}/authorize?client_id={client}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&response_type=code&scope=openid&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256",
            self.idp.url()
        )
    }

    /// Signs `username` in on the IdP's page for `client`, with the password; returns the code.
    pub async fn sign_in(
        &self,
        browser: &reqwest::Client,
        client: &str,
        username: &str,
    ) -> anyhow::Result<String> {
        let idp = self.idp.url();
        let page = testkit::sign_in_page(browser, &idp, &self.authorize(client)).await;
        let done = testkit::submit_idp_login(browser, &idp, &page, username, PASSWORD).await;
        if !done.status().is_redirection() {
            anyhow::bail!(
                "sign-in refused ({}): {}",
                done.status(),
                done.text().await?
            );
        }
        code_in(&location(&done)?)
    }

    /// Runs the `idp` command with the IdP's settings (`idp outbox`, say); returns its output.
    pub async fn idp_cli(&self, args: &[&str]) -> anyhow::Result<String> {
        self.idp.command(args).await
    }

    /// Gives `username` an account at every other school, with the same name and e-mail, and
    /// links them all with the account at `jpk` at the IdP (as confirming each link would).
    pub async fn link_at_every_school(&self, username: &str) -> anyhow::Result<()> {
        let (first, last) = username.split_once(' ').unwrap_or_default();
        let home = Link {
            node_id: "jpk".into(),
            sub: self.persons[username].as_str().into(),
        };
        let profile = SharedProfile {
            first_name: first.into(),
            last_name: last.into(),
            ..Default::default()
        };
        for school in &self.schools {
            let input = PersonalDataInput {
                first_name: first.into(),
                last_name: last.into(),
                ..Default::default()
            };
            let id = accounts::create(&school.db, &input, &[Role::Teacher], None).await?;
            let there = Link {
                node_id: school.id.as_str().into(),
                sub: id.as_str().into(),
            };
            let now = shared::retry::now_millis();
            let timing = Timing {
                at_millis: now,
                deadline_millis: now + 3_600_000,
            };
            persons::link(&self.idp_db, &home, &there, &profile, timing).await?;
        }
        Ok(())
    }

    /// `n` new people, each linked at every school and signed in at all of them in a browser of
    /// their own: their usernames and the browsers.
    pub async fn signed_in_everywhere(
        &mut self,
        n: usize,
    ) -> anyhow::Result<(Vec<String>, Vec<reqwest::Client>)> {
        let people = self.people(n).await?;
        let mut browsers = Vec::new();
        for person in &people {
            self.link_at_every_school(person).await?;
            let browser = Self::browser();
            self.sign_in_at_every_school(&browser, person).await?;
            browsers.push(browser);
        }
        Ok((people, browsers))
    }

    /// `jpk` and every other school.
    pub fn every_school(&self) -> Vec<&School> {
        std::iter::once(&self.node).chain(&self.schools).collect()
    }

    /// Signs `username` in at `jpk` with the password on the IdP's page, then opens every other
    /// school, which signs in through the IdP session without a form.
    pub async fn sign_in_at_every_school(
        &self,
        browser: &reqwest::Client,
        username: &str,
    ) -> anyhow::Result<()> {
        for school in self.every_school() {
            anyhow::ensure!(
                self.sign_in_at(browser, &school.url(), username).await?,
                "{username} signs in at {}",
                school.id
            );
        }
        Ok(())
    }

    /// Signs in at a school node through single sign-on, as a person does (filling in the
    /// IdP's form when it shows one); true when the node's home page opened.
    pub async fn sign_in_at(
        &self,
        browser: &reqwest::Client,
        node: &str,
        username: &str,
    ) -> anyhow::Result<bool> {
        let mut url = format!("{node}/login");
        // Follow the hops by hand, filling in the IdP's form on the way.
        for _ in 0..10 {
            let r = browser.get(&url).send().await?;
            if r.status().is_redirection() {
                let next = location(&r)?;
                url = if next.starts_with("http") {
                    next
                } else {
                    format!("{}{next}", origin(&url))
                };
                continue;
            }
            if url.starts_with(&self.idp.url()) && r.status().is_success() {
                let page = r.text().await?;
                let done =
                    testkit::submit_idp_login(browser, &self.idp.url(), &page, username, PASSWORD)
                        .await;
                if !done.status().is_redirection() {
                    return Ok(false);
                }
                url = location(&done)?;
                continue;
            }
            return Ok(r.status().is_success() && url == format!("{node}/"));
        }
        Ok(false)
    }

    /// Whether the browser's session at the school node is live (its home page opens).
    pub async fn signed_in_at(browser: &reqwest::Client, node: &str) -> anyhow::Result<bool> {
        let r = browser.get(format!("{node}/")).send().await?;
        Ok(r.status() == reqwest::StatusCode::OK)
    }

    /// Signs out at the IdP, as "Logi välja" there does: the confirmation page, then the button.
    /// Returns the answer's status.
    pub async fn sign_out_at_idp(idp: &str, browser: &reqwest::Client) -> anyhow::Result<u16> {
        let page = browser.get(format!("{idp}/logout")).send().await?;
        if !page.status().is_success() {
            return Ok(page.status().as_u16());
        }
        let page = page.text().await?;
        anyhow::ensure!(
            page.contains("action=\"/logout/confirm\""),
            "not the sign-out confirmation: {page}"
        );
        Ok(testkit::confirm_idp_logout(browser, idp, &page)
            .await
            .status()
            .as_u16())
    }
}

fn origin(url: &str) -> String {
    let after = url.find("://").map_or(0, |i| i + 3);
    let end = url[after..].find('/').map_or(url.len(), |i| after + i);
    url[..end].to_owned()
}

pub fn location(r: &reqwest::Response) -> anyhow::Result<String> {
    Ok(r.headers()
        .get(reqwest::header::LOCATION)
        .ok_or_else(|| anyhow::anyhow!("no redirect: {}", r.status()))?
        .to_str()?
        .to_owned())
}

pub fn code_in(location: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(location)?;
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| anyhow::anyhow!("no code in {location}"))
}

/// An application of `jpk`'s, and the registrations nobody calls.
fn clients_file(extra: usize) -> String {
    let hash = idp::config::hash_secret(SECRET);
    // An application that signs people in with their account at the real node.
    let mut out = format!(
        "[[client]]\nclient_id = \"app\"\nname = \"Rakendus\"\nsecret_hash = \"{hash}\"\n\
         redirect_uris = [\"{REDIRECT}\"]\nfederation_node = \"jpk\"\n\n"
    );
    for i in 0..extra {
        out.push_str(&format!(
            "[[client]]\nclient_id = \"k{i}\"\nname = \"Kool k{i}\"\nsecret_hash = \"{hash}\"\n\
             redirect_uris = [\"{REDIRECT}\"]\nfederation_url = \"http://127.0.0.1:9/k{i}\"\n\n"
        ));
    }
    out
}

/// A real school's registration at the IdP; its back-channel logouts go to `backchannel_port`
/// (the school's own port, or a slow link to it).
fn school_client(id: &str, name: &str, port: u16, backchannel_port: u16) -> String {
    let hash = idp::config::hash_secret(SECRET);
    let base = format!("http://127.0.0.1:{port}");
    format!(
        "[[client]]\nclient_id = \"{id}\"\nname = \"{name}\"\nsecret_hash = \"{hash}\"\n\
         jwks_uri = \"{base}/federation/jwks.json\"\nredirect_uris = [\"{base}/sso/callback\", \"{REDIRECT}\"]\n\
         post_logout_redirect_uris = [\"{base}/\"]\n\
         backchannel_logout_uri = \"http://127.0.0.1:{backchannel_port}/sso/backchannel-logout\"\n\
         federation_url = \"{base}\"\n\n"
    )
}

/// A network link to `port` on this machine that holds every piece of a request `delay`
/// before passing it on (answers come back at once); returns the port it listens on.
async fn slow_link(port: u16, delay: Duration) -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let own = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                    forward_slowly(inbound, outbound, delay).await;
                }
            });
        }
    });
    Ok(own)
}

async fn forward_slowly(
    inbound: tokio::net::TcpStream,
    outbound: tokio::net::TcpStream,
    delay: Duration,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut from_client, mut to_client) = inbound.into_split();
    let (mut from_server, mut to_server) = outbound.into_split();
    let requests = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = from_client.read(&mut buffer).await {
            tokio::time::sleep(delay).await;
            if to_server.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
        let _ = to_server.shutdown().await;
    };
    let answers = async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
        let _ = to_client.shutdown().await;
    };
    tokio::join!(requests, answers);
}

/// A school node's process on the suite's PostgreSQL and Redis, and the port of its metrics.
#[allow(clippy::too_many_arguments)]
fn school(
    id: &str,
    name: &str,
    port: u16,
    dir: &Path,
    database_url: &str,
    redis: &OwnRedis,
    issuer: &str,
    options: &Options,
) -> anyhow::Result<(Service, u16)> {
    let base = format!("http://127.0.0.1:{port}");
    let metrics_port = free_port();
    let mut env = vec![
        ("INSTITUTION_ID", id.to_owned()),
        ("INSTITUTION_NAME", name.to_owned()),
        ("LISTEN", format!("127.0.0.1:{port}")),
        ("METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")),
        ("PUBLIC_URL", base),
        ("DATA_DIR", dir.join(id).display().to_string()),
        ("DATABASE_URL", database_url.to_owned()),
        ("REDIS_URL", redis.url()),
        ("REDIS_PREFIX", format!("{id}:{}:", dir.display())),
        ("SSO__ISSUER", issuer.to_owned()),
        ("SSO__CLIENT_ID", id.to_owned()),
        ("SSO__CLIENT_SECRET", SECRET.into()),
        ("SSO__SYNC_RETRY_BASE_MILLIS", "200".into()),
        ("SSO__SYNC_RETRY_MAX_MILLIS", "1000".into()),
        ("SSO__SYNC_POLL_MILLIS", options.poll_millis.to_string()),
        ("MAIL__POLL_MILLIS", options.poll_millis.to_string()),
        ("MAIL__RETRY_BASE_MILLIS", "200".into()),
        ("MAIL__RETRY_MAX_MILLIS", "1000".into()),
        (
            "MAIL__DEADLINE_SECONDS",
            options.mail_deadline_seconds.to_string(),
        ),
    ];
    if let Some(port) = options.smtp_port {
        env.extend([
            ("MAIL__TRANSPORT", "smtp".to_owned()),
            ("MAIL__SMTP_HOST", "127.0.0.1".into()),
            ("MAIL__SMTP_PORT", port.to_string()),
            ("MAIL__SMTP_SECURITY", "none".into()),
        ]);
    }
    let service_name = if id == "jpk" { "node" } else { id };
    let service = Service::new(service_name, "school-node", "SCHOOL_", port, dir, &env)?;
    Ok((service, metrics_port))
}
