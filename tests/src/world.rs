//! A federation of the IdP and four school nodes (A, B, C, D) with people to link, and a
//! browser's ways through it, for the end-to-end tests of linking, SSO and global sign-out.

use std::time::Duration;

use federation::{Federation, Options};
use reqwest::StatusCode;
use school_node::service::accounts::{self, Account};
use shared::PersonalCode;

use crate::{DEMO_PASSWORD, hidden, start_custom, submit_idp_login};

pub const DEMO: &str = r#"
[idp]
host = "idp.localhost"
port = 8080

[[institution]]
id = "a"
name = "Algkool A"
host = "a.localhost"
port = 8081

  [[institution.account]]
  first_name = "Anna"
  last_name = "Allikas"
  email = "anna@a.ee"
  personal_code = "48505120221"
  roles = ["teacher"]

  [[institution.account]]
  first_name = "Jaan"
  last_name = "Tamm"
  email = "jaan@a.ee"
  personal_code = "37803040225"
  roles = ["teacher"]

  [[institution.account]]
  first_name = "Kati"
  last_name = "Kask"
  personal_code = "49008150222"
  roles = ["parent"]

  [[institution.account]]
  first_name = "Peeter"
  last_name = "Paju"
  email = "peeter@a.ee"
  phone = "+372 5550 0001"
  roles = ["parent"]

  [[institution.account]]
  first_name = "Mari"
  last_name = "Mets"
  personal_code = "49202020226"
  roles = ["teacher"]

  [[institution.account]]
  first_name = "Dora"
  last_name = "Direktor"
  email = "dora@a.ee"
  roles = ["admin", "teacher"]

[[institution]]
id = "b"
name = "Gümnaasium B"
host = "b.localhost"
port = 8082

  [[institution.account]]
  first_name = "ANNA"
  last_name = "allikas"
  email = "anna@b.ee"
  personal_code = "48505120221"
  roles = ["parent"]

  [[institution.account]]
  first_name = "Jaan"
  last_name = "Tamm"
  email = "jaan@a.ee"
  personal_code = "38511200229"
  roles = ["parent"]

  [[institution.account]]
  first_name = "Kati"
  last_name = "Kuusk"
  personal_code = "49008150222"
  roles = ["parent"]

  [[institution.account]]
  first_name = "Peeter"
  last_name = "Paju"
  email = "peeter@b.ee"
  roles = ["parent"]

  [[institution.account]]
  first_name = "Mari"
  last_name = "Mets"
  personal_code = "49202020226"
  roles = ["parent"]

[[institution]]
id = "c"
name = "Huvikool C"
host = "c.localhost"
port = 8083

  [[institution.account]]
  first_name = "Anna"
  last_name = "Allikas"
  personal_code = "48505120221"
  roles = ["student"]

  [[institution.account]]
  first_name = "Mari"
  last_name = "Mets"
  personal_code = "49202020226"
  roles = ["teacher"]

[[institution]]
id = "d"
name = "Lasteaed D"
host = "d.localhost"
port = 8084

  [[institution.account]]
  first_name = "Mari"
  last_name = "Mets"
  personal_code = "49202020226"
  roles = ["parent"]
"#;

pub const ANNA: &str = "48505120221";
pub const MARI: &str = "49202020226";

/// kind, client, attempts, delivered at, last error, payload
type IdpOutboxRow = (
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);
/// seq, changes, attempts, delivered at, last error
type NodeOutboxRow = (i64, String, i64, Option<i64>, Option<String>);

pub struct World {
    pub federation: Federation,
    pub idp: String,
    _dir: tempfile::TempDir,
}

impl World {
    pub async fn start() -> World {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Options)) -> World {
        Self::from_demo(DEMO, adjust).await
    }

    /// The same ways through another demo federation (the README's, with its eID broker).
    pub async fn from_demo(demo: &str, adjust: impl FnOnce(&mut Options)) -> World {
        let (federation, dir) = start_custom(demo, adjust).await;
        let idp = federation.idp.as_ref().unwrap().url();
        World {
            federation,
            idp,
            _dir: dir,
        }
    }

    pub fn url(&self, node: &str) -> String {
        self.federation.node(node).unwrap().url()
    }

    pub async fn account(&self, node: &str, code: &str) -> Account {
        let db = &self.federation.node(node).unwrap().state.db;
        accounts::by_personal_code(db, &PersonalCode::parse(code).unwrap())
            .await
            .unwrap()
            .unwrap()
    }

    /// Signs in at `node` with a password on the IdP's page; returns the node's home page.
    pub async fn sign_in(&self, client: &reqwest::Client, node: &str, username: &str) -> String {
        let page = client
            .get(format!("{}/login", self.url(node)))
            .send()
            .await
            .unwrap();
        assert!(
            page.url()
                .as_str()
                .starts_with(&format!("{}/login?r=", self.idp)),
            "{}",
            page.url()
        );
        let body = page.text().await.unwrap();
        let home = submit_idp_login(client, &self.idp, &body, username, DEMO_PASSWORD).await;
        assert_eq!(home.url().as_str(), format!("{}/", self.url(node)));
        home.text().await.unwrap()
    }

    /// Opens `node` the way its logo in the nav bar does; returns where the browser ended and
    /// the page there.
    pub async fn open(&self, client: &reqwest::Client, node: &str) -> (String, String) {
        let r = client
            .get(format!("{}/sso/start?next=/", self.url(node)))
            .send()
            .await
            .unwrap();
        (r.url().to_string(), r.text().await.unwrap())
    }

    /// Starts linking at `from` to `to`, signing in at `to` if the IdP asks; returns the answer
    /// (the review page, or a page saying why not).
    pub async fn link(
        &self,
        client: &reqwest::Client,
        from: &str,
        to: &str,
        username: &str,
    ) -> reqwest::Response {
        let choose = client
            .get(format!("{}/link", self.url(from)))
            .send()
            .await
            .unwrap();
        assert_eq!(
            choose.url().as_str(),
            format!("{}/link?from={from}&ui_locales=et", self.idp),
            "the school sends the person's language along"
        );
        let body = choose.text().await.unwrap();
        assert!(
            body.contains(&format!("data-institution=\"{to}\"")),
            "{to} is offered: {body}"
        );
        let next = client
            .get(format!("{}/link/with?from={from}&to={to}", self.idp))
            .send()
            .await
            .unwrap();
        let review = if next.url().path() == "/login" {
            let page = next.text().await.unwrap();
            submit_idp_login(client, &self.idp, &page, username, DEMO_PASSWORD).await
        } else {
            next
        };
        if review.url().path() == "/link/review" {
            // Both accounts' personal data: no browser or proxy may keep it.
            assert_eq!(
                review.headers().get("cache-control").map(|v| v.as_bytes()),
                Some(&b"no-store"[..]),
                "the link review is not cached"
            );
        }
        review
    }

    pub async fn confirm(
        &self,
        client: &reqwest::Client,
        review: &str,
        choices: &[(&str, &str)],
    ) -> String {
        let mut form = vec![
            ("review".to_owned(), hidden(review, "review")),
            ("csrf".to_owned(), hidden(review, "csrf")),
        ];
        form.extend(
            choices
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let done = client
            .post(format!("{}/link/confirm", self.idp))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), StatusCode::OK);
        done.text().await.unwrap()
    }

    /// Links `from` to `to` for a person whose data match, confirming the proposal.
    pub async fn link_matching(
        &self,
        client: &reqwest::Client,
        from: &str,
        to: &str,
        username: &str,
    ) {
        let review = self.link(client, from, to, username).await;
        assert_eq!(review.status(), StatusCode::OK);
        let review = review.text().await.unwrap();
        assert!(review.contains("name=\"review\""), "{review}");
        let done = self.confirm(client, &review, &[]).await;
        assert!(done.contains("Kontod on seotud"), "{done}");
    }

    /// Removes the link to `client_id` at `node` as a person does: "Eemalda seos" on the profile,
    /// then the button on the page that asks first; returns the page it ends on.
    pub async fn remove_link(
        &self,
        client: &reqwest::Client,
        node: &str,
        client_id: &str,
    ) -> String {
        let base = self.url(node);
        let asking = client
            .get(format!("{base}/links/remove/confirm"))
            .query(&[("client_id", client_id)])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(asking.contains("action=\"/links/remove\""), "{asking}");
        client
            .post(format!("{base}/links/remove"))
            .form(&[
                ("csrf", hidden(&asking, "csrf")),
                ("client_id", client_id.to_owned()),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits until `check` holds for the account with personal code `code` at `node`.
    pub async fn eventually(
        &self,
        node: &str,
        code: &str,
        what: &str,
        check: impl Fn(&Account) -> bool,
    ) -> Account {
        let found = testkit::try_eventually(Duration::from_secs(10), || async {
            let account = self.account(node, code).await;
            if check(&account) {
                Ok(account)
            } else {
                Err(format!("{account:?}"))
            }
        })
        .await;
        match found {
            Ok(account) => account,
            Err(last) => panic!("{what} at {node}: {last}\n{}", self.sync_state().await),
        }
    }

    /// What the outboxes hold, for a failure message.
    pub async fn sync_state(&self) -> String {
        self.outboxes()
            .await
            .unwrap_or_else(|e| format!("the outboxes cannot be read: {e}"))
    }

    async fn outboxes(&self) -> Result<String, sqlx::Error> {
        let idp = &self.federation.idp.as_ref().unwrap().db;
        let rows: Vec<IdpOutboxRow> = shared::with_pool!(idp, pool => sqlx::query_as(
                "SELECT kind, client_id, CAST(attempts AS BIGINT), delivered_at, last_error, payload FROM outbox ORDER BY created_at",
            )
            .fetch_all(pool)
            .await?);
        let mut out = String::from("IdP outbox:\n");
        for row in rows {
            out.push_str(&format!("  {row:?}\n"));
        }
        for node in &self.federation.nodes {
            let rows: Vec<NodeOutboxRow> = shared::with_pool!(&node.state.db, pool => sqlx::query_as(
                    "SELECT CAST(seq AS BIGINT), kind || ' ' || payload, CAST(attempts AS BIGINT), delivered_at, COALESCE(last_error, '') || COALESCE(' given up ' || CAST(given_up_at AS TEXT), '') FROM idp_outbox ORDER BY seq",
                )
                .fetch_all(pool)
                .await?);
            out.push_str(&format!("{} outbox:\n", node.id));
            for row in rows {
                out.push_str(&format!("  {row:?}\n"));
            }
        }
        Ok(out)
    }

    /// Saves the profile form at `node` as a person does: a field given `None` is left as the
    /// form shows it.
    pub async fn edit_profile(
        &self,
        client: &reqwest::Client,
        node: &str,
        email: Option<&str>,
        phone: Option<&str>,
        address: Option<&str>,
    ) {
        let page = client
            .get(format!("{}/profile", self.url(node)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let shown = |field: &str| hidden(&page, &format!("shown_{field}"));
        let typed =
            |value: Option<&str>, field: &str| value.map_or_else(|| shown(field), str::to_owned);
        let saved = client
            .post(format!("{}/profile", self.url(node)))
            .form(&[
                ("csrf", hidden(&page, "csrf")),
                ("shown", hidden(&page, "shown")),
                ("shown_email", shown("email")),
                ("shown_phone", shown("phone")),
                ("shown_address", shown("address")),
                ("email", typed(email, "email")),
                ("phone", typed(phone, "phone")),
                ("address", typed(address, "address")),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(saved.status(), StatusCode::OK, "{node}");
        assert!(saved.url().path() == "/profile");
    }
}
