//! The `persons` and `links` tables: who is one human across institutions, and the profile
//! their linked accounts share. Every change of a profile queues its delivery to each linked
//! node in the same transaction, so no change is stored without being sent.

use shared::db::{Bind, Statement};
use shared::profile::{
    ChangeOrigin, Language, ProfileChanges, ProfileUpdate, SharedProfile, next_version,
};
use shared::{AccountId, ClientId, Email, PersonalCode, Phone};

use super::outbox::{self, NewDelivery, OutboxKind};
use super::{Database, Result, with_db};

/// An account at a node: the node's client id and the account's id there (`sub`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct Link {
    pub node_id: ClientId,
    pub sub: AccountId,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PersonRow {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub personal_code: Option<PersonalCode>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub address: Option<String>,
    pub version: i64,
    /// Chosen at a linked school (`Language`'s code).
    pub language: Option<String>,
}

impl PersonRow {
    pub fn profile(&self) -> SharedProfile {
        SharedProfile {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            personal_code: self.personal_code.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            address: self.address.clone(),
        }
    }

    pub fn language(&self) -> Option<Language> {
        self.language.as_deref().and_then(Language::parse)
    }
}

const PERSON: &str = "SELECT id, first_name, last_name, personal_code, email, phone, address, version, \
                      language FROM persons WHERE id = $1";
const PERSON_OF: &str = "SELECT person_id FROM links WHERE node_id = $1 AND sub = $2";
const LINKS_OF: &str = "SELECT node_id, sub FROM links WHERE person_id = $1 ORDER BY linked_at";

/// When the deliveries of a change are made and given up.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub at_millis: i64,
    pub deadline_millis: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Linked {
    Done {
        person_id: String,
        links: Vec<Link>,
    },
    /// The two accounts already belong to one person.
    AlreadyLinked,
    /// The person would have two accounts at this node.
    NodeTaken(String),
}

pub async fn person_of(db: &Database, link: &Link) -> Result<Option<String>> {
    with_db!(db, pool => sqlx::query_scalar(PERSON_OF)
        .bind(&link.node_id)
        .bind(&link.sub)
        .fetch_optional(pool)
        .await)
}

pub async fn get(db: &Database, id: &str) -> Result<Option<PersonRow>> {
    with_db!(db, pool => sqlx::query_as(PERSON).bind(id).fetch_optional(pool).await)
}

/// Persons whose personal code is `query`, or whose name holds it (any case), by name.
pub async fn search(db: &Database, query: &str, limit: i64) -> Result<Vec<PersonRow>> {
    with_db!(db, pool => sqlx::query_as(
        "SELECT id, first_name, last_name, personal_code, email, phone, address, version, language \
         FROM persons WHERE personal_code = $1 OR lower(first_name || ' ' || last_name) LIKE $2 ESCAPE '\\' \
         ORDER BY lower(last_name), lower(first_name), id LIMIT $3",
    )
    .bind(query)
    .bind(shared::db::contains_pattern(query))
    .bind(limit)
    .fetch_all(pool)
    .await)
}

pub async fn links(db: &Database, person_id: &str) -> Result<Vec<Link>> {
    with_db!(db, pool => sqlx::query_as(LINKS_OF).bind(person_id).fetch_all(pool).await)
}

/// The accounts linked to `link`'s person, `link` included; empty when it is not linked.
pub async fn linked_accounts(db: &Database, link: &Link) -> Result<Vec<Link>> {
    with_db!(db, pool => sqlx::query_as(
        "SELECT l.node_id, l.sub FROM links l JOIN links me ON me.person_id = l.person_id \
         WHERE me.node_id = $1 AND me.sub = $2 ORDER BY l.linked_at",
    )
    .bind(&link.node_id)
    .bind(&link.sub)
    .fetch_all(pool)
    .await)
}

/// A person's link with when it was made (Unix milliseconds), for their own page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkSince {
    pub node_id: String,
    pub sub: String,
    pub person_id: String,
    pub linked_at: i64,
}

/// Every link of the person `link` belongs to, with when each was made.
pub async fn links_with_times(db: &Database, link: &Link) -> Result<Vec<LinkSince>> {
    with_db!(db, pool => sqlx::query_as(
        "SELECT l.node_id, l.sub, l.person_id, l.linked_at FROM links l JOIN links me ON me.person_id = l.person_id \
         WHERE me.node_id = $1 AND me.sub = $2 ORDER BY l.linked_at",
    )
    .bind(&link.node_id)
    .bind(&link.sub)
    .fetch_all(pool)
    .await)
}

fn upsert_person<DB: sqlx::Database>(
    id: &str,
    profile: &SharedProfile,
    version: i64,
    at: i64,
) -> Statement<DB>
where
    String: Bind<DB>,
    Option<String>: Bind<DB>,
    i64: Bind<DB>,
{
    sqlx::query(
        "INSERT INTO persons (id, first_name, last_name, personal_code, email, phone, address, version, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         ON CONFLICT (id) DO UPDATE SET first_name = $2, last_name = $3, personal_code = $4, email = $5, \
         phone = $6, address = $7, version = $8, updated_at = $9",
    )
    .bind(id.to_owned())
    .bind(profile.first_name.clone())
    .bind(profile.last_name.clone())
    .bind(profile.personal_code.as_ref().map(|v| v.as_str().to_owned()))
    .bind(profile.email.as_ref().map(|v| v.as_str().to_owned()))
    .bind(profile.phone.as_ref().map(|v| v.as_str().to_owned()))
    .bind(profile.address.clone())
    .bind(version)
    .bind(at)
}

/// One delivery of the profile per linked account.
fn deliveries<DB: sqlx::Database>(
    links: &[Link],
    profile: &SharedProfile,
    version: i64,
    language: Option<Language>,
    timing: Timing,
    origin: Option<&ChangeOrigin>,
) -> Vec<Statement<DB>>
where
    String: Bind<DB>,
    Option<String>: Bind<DB>,
    i64: Bind<DB>,
{
    links
        .iter()
        .map(|link| {
            let update = ProfileUpdate {
                sub: link.sub.clone(),
                version,
                profile: profile.clone(),
                origin: origin.cloned(),
                language,
            };
            outbox::enqueue_statement(
                &NewDelivery {
                    kind: OutboxKind::Profile,
                    client_id: link.node_id.as_str(),
                    sid: "",
                    sub: link.sub.as_str(),
                    payload: serde_json::to_string(&update).ok(),
                },
                timing.at_millis,
                timing.deadline_millis,
            )
        })
        .collect()
}

/// One "your institutions changed" per account, for the nav bars of its sessions.
fn institutions_changed<DB: sqlx::Database>(links: &[Link], timing: Timing) -> Vec<Statement<DB>>
where
    String: Bind<DB>,
    Option<String>: Bind<DB>,
    i64: Bind<DB>,
{
    links
        .iter()
        .map(|link| {
            outbox::enqueue_statement(
                &NewDelivery {
                    kind: OutboxKind::Institutions,
                    client_id: link.node_id.as_str(),
                    sid: "",
                    sub: link.sub.as_str(),
                    payload: None,
                },
                timing.at_millis,
                timing.deadline_millis,
            )
        })
        .collect()
}

/// Links accounts `a` and `b` as one person whose profile becomes `profile`. An account already
/// linked brings its person along; when both are, the two persons merge and every link stays.
pub async fn link(
    db: &Database,
    a: &Link,
    b: &Link,
    profile: &SharedProfile,
    timing: Timing,
) -> Result<Linked> {
    // A concurrent link of one of the accounts (the person confirming at two nodes at once)
    // makes one attempt find its link taken; it runs again and joins the person made meanwhile.
    for _ in 0..5 {
        let done = shared::db::retrying(5, || link_once(db, a, b, profile, timing)).await?;
        if let Some(linked) = done {
            return Ok(linked);
        }
    }
    Err(sqlx::Error::Protocol(
        "the link kept meeting concurrent changes".into(),
    ))
}

async fn link_once(
    db: &Database,
    a: &Link,
    b: &Link,
    profile: &SharedProfile,
    timing: Timing,
) -> Result<Option<Linked>> {
    let at = timing.at_millis / 1000;
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let pa: Option<String> = sqlx::query_scalar(PERSON_OF)
            .bind(&a.node_id).bind(&a.sub).fetch_optional(&mut *tx).await?;
        let pb: Option<String> = sqlx::query_scalar(PERSON_OF)
            .bind(&b.node_id).bind(&b.sub).fetch_optional(&mut *tx).await?;
        if pa.is_some() && pa == pb {
            return Ok(Some(Linked::AlreadyLinked));
        }
        let person_id = pa.clone().or(pb.clone()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut links: Vec<Link> = Vec::new();
        let mut version = 0;
        // Two persons merging keep the language the first of them chose, else the other's.
        let mut language: Option<String> = None;
        for p in [&pa, &pb].into_iter().flatten() {
            links.extend(sqlx::query_as::<_, Link>(LINKS_OF).bind(p).fetch_all(&mut *tx).await?);
            let row: Option<(i64, Option<String>)> =
                sqlx::query_as("SELECT version, language FROM persons WHERE id = $1")
                    .bind(p).fetch_optional(&mut *tx).await?;
            if let Some((v, l)) = row {
                version = version.max(v);
                language = language.or(l);
            }
        }
        for link in [a, b] {
            if !links.contains(link) {
                links.push(link.clone());
            }
        }
        let mut nodes: Vec<&str> = links.iter().map(|l| l.node_id.as_str()).collect();
        nodes.sort_unstable();
        if let Some(w) = nodes.windows(2).find(|w| w[0] == w[1]) {
            return Ok(Some(Linked::NodeTaken(w[0].to_owned())));
        }
        let version = next_version(version, timing.at_millis);
        upsert_person(&person_id, profile, version, at).execute(&mut *tx).await?;
        sqlx::query("UPDATE persons SET language = $2 WHERE id = $1")
            .bind(&person_id).bind(&language).execute(&mut *tx).await?;
        let language = language.as_deref().and_then(Language::parse);
        if let (Some(pa), Some(pb)) = (&pa, &pb) {
            sqlx::query("UPDATE links SET person_id = $1 WHERE person_id = $2")
                .bind(pa).bind(pb).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM persons WHERE id = $1").bind(pb).execute(&mut *tx).await?;
        }
        for link in [a, b] {
            sqlx::query(
                "INSERT INTO links (node_id, sub, person_id, linked_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (node_id, sub) DO NOTHING",
            )
            .bind(&link.node_id).bind(&link.sub).bind(&person_id).bind(timing.at_millis)
            .execute(&mut *tx).await?;
            let owner: Option<String> = sqlx::query_scalar(PERSON_OF)
                .bind(&link.node_id).bind(&link.sub).fetch_optional(&mut *tx).await?;
            if owner.as_deref() != Some(person_id.as_str()) {
                // Linked to another person since we looked: undo, and look again.
                return Ok(None);
            }
        }
        for statement in deliveries(&links, profile, version, language, timing, None) {
            statement.execute(&mut *tx).await?;
        }
        for statement in institutions_changed(&links, timing) {
            statement.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Some(Linked::Done { person_id, links }))
    })
}

/// What a node reports of one of its accounts: changed fields, and the language its person
/// chose there.
#[derive(Debug, Clone, Copy)]
pub struct NodeChange<'a> {
    pub from: &'a Link,
    pub changes: &'a ProfileChanges,
    pub language: Option<Language>,
}

impl<'a> NodeChange<'a> {
    /// Changed fields, no language chosen.
    pub fn fields(from: &'a Link, changes: &'a ProfileChanges) -> Self {
        NodeChange {
            from,
            changes,
            language: None,
        }
    }
}

/// Applies changes made at the node of `from` to its person and queues the result for every
/// linked node (the sender too, so concurrent edits end the same everywhere). None when the
/// account is not linked.
/// `origin` (the institution where the change was made) goes to every linked node with it.
pub async fn apply_changes(
    db: &Database,
    change: NodeChange<'_>,
    timing: Timing,
    origin: Option<&ChangeOrigin>,
) -> Result<Option<i64>> {
    // Optimistic: a concurrent change at another node makes the update miss, and it reads again.
    loop {
        let step =
            shared::db::retrying(5, || apply_changes_once(db, change, timing, origin)).await?;
        match step {
            Applied::NotLinked => return Ok(None),
            Applied::Version(version) => return Ok(Some(version)),
            Applied::Missed => continue,
        }
    }
}

enum Applied {
    NotLinked,
    Version(i64),
    /// Another change came first; read the person again.
    Missed,
}

async fn apply_changes_once(
    db: &Database,
    change: NodeChange<'_>,
    timing: Timing,
    origin: Option<&ChangeOrigin>,
) -> Result<Applied> {
    let at = timing.at_millis / 1000;
    let from = change.from;
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let person_id: Option<String> = sqlx::query_scalar(PERSON_OF)
            .bind(&from.node_id).bind(&from.sub).fetch_optional(&mut *tx).await?;
        let Some(person_id) = person_id else {
            return Ok(Applied::NotLinked);
        };
        let person: Option<PersonRow> = sqlx::query_as(PERSON)
            .bind(&person_id).fetch_optional(&mut *tx).await?;
        let Some(person) = person else {
            return Ok(Applied::NotLinked);
        };
        let mut profile = person.profile();
        profile.apply(change.changes).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let language = change.language.or(person.language());
        let version = next_version(person.version, timing.at_millis);
        let updated = sqlx::query(
            "UPDATE persons SET first_name = $3, last_name = $4, personal_code = $5, email = $6, \
             phone = $7, address = $8, version = $9, updated_at = $10, language = $11 \
             WHERE id = $1 AND version = $2",
        )
        .bind(&person_id).bind(person.version)
        .bind(&profile.first_name).bind(&profile.last_name).bind(&profile.personal_code)
        .bind(&profile.email).bind(&profile.phone).bind(&profile.address)
        .bind(version).bind(at).bind(language.map(Language::as_str))
        .execute(&mut *tx).await?
        .rows_affected();
        if updated != 1 {
            return Ok(Applied::Missed);
        }
        let links: Vec<Link> = sqlx::query_as(LINKS_OF).bind(&person_id).fetch_all(&mut *tx).await?;
        for statement in deliveries(&links, &profile, version, language, timing, origin) {
            statement.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Applied::Version(version))
    })
}

/// Removes the link of `from`'s person to its account at `node_id`. A person left with one
/// account is no person any more and goes too. Every account concerned, the one let go
/// included, is told its institutions. False when there was no such link.
pub async fn unlink(
    db: &Database,
    from: &Link,
    node_id: &ClientId,
    timing: Timing,
) -> Result<bool> {
    shared::db::retrying(5, || unlink_once(db, from, node_id, timing)).await
}

async fn unlink_once(
    db: &Database,
    from: &Link,
    node_id: &ClientId,
    timing: Timing,
) -> Result<bool> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let person_id: Option<String> = sqlx::query_scalar(PERSON_OF)
            .bind(&from.node_id).bind(&from.sub).fetch_optional(&mut *tx).await?;
        let Some(person_id) = person_id else {
            return Ok(false);
        };
        let concerned: Vec<Link> = sqlx::query_as(LINKS_OF).bind(&person_id).fetch_all(&mut *tx).await?;
        let removed = sqlx::query("DELETE FROM links WHERE person_id = $1 AND node_id = $2")
            .bind(&person_id).bind(node_id).execute(&mut *tx).await?.rows_affected();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM links WHERE person_id = $1")
            .bind(&person_id).fetch_one(&mut *tx).await?;
        if left < 2 {
            sqlx::query("DELETE FROM persons WHERE id = $1").bind(&person_id).execute(&mut *tx).await?;
        }
        if removed == 1 {
            for statement in institutions_changed(&concerned, timing) {
                statement.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(removed == 1)
    })
}
