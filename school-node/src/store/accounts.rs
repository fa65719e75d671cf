//! The `accounts`, `account_roles` and `guardianships` tables.

use serde::{Deserialize, Serialize};

use shared::db::{Bind, Statement};
use shared::profile::{Language, ProfileChanges};

use super::idp_outbox::MessageKind;
use shared::audit::Event;
use shared::{Email, OptionalText, PersonalCode, Phone};

use super::{Database, Result, now, with_db};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Student,
    Parent,
    Teacher,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Student, Role::Parent, Role::Teacher, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Parent => "parent",
            Role::Teacher => "teacher",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub personal_code: Option<PersonalCode>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub address: Option<String>,
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl AccountRow {
    pub fn data(&self) -> PersonalData {
        PersonalData {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            personal_code: self.personal_code.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            address: self.address.clone(),
        }
    }
}

const COLUMNS: &str = "id, first_name, last_name, personal_code, email, phone, address, password_hash, \
                       must_change_password, disabled, created_at, updated_at";

/// Personal data as stored; the caller has validated every field. The same fields are what
/// linked accounts share through the IdP.
pub type PersonalData = shared::profile::SharedProfile;

pub struct NewAccount {
    pub data: PersonalData,
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    pub roles: Vec<Role>,
}

fn select(filter: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM accounts {filter}"))
}

/// The statements that store a new account and its roles, to run in one transaction.
pub fn insert_statements<DB: sqlx::Database>(
    id: &str,
    new: &NewAccount,
    at: i64,
) -> Vec<Statement<DB>>
where
    String: Bind<DB>,
    Option<String>: Bind<DB>,
    i64: Bind<DB>,
    bool: Bind<DB>,
{
    let key = shared::names::name_key(&new.data.first_name, &new.data.last_name);
    let account = sqlx::query(
        "INSERT INTO accounts (id, first_name, last_name, name_key, personal_code, email, phone, address, \
         password_hash, must_change_password, disabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE, $11, $11)",
    )
    .bind(id.to_owned())
    .bind(new.data.first_name.clone())
    .bind(new.data.last_name.clone())
    .bind(key)
    .bind(new.data.personal_code.text().map(str::to_owned))
    .bind(new.data.email.text().map(str::to_owned))
    .bind(new.data.phone.text().map(str::to_owned))
    .bind(new.data.address.clone())
    .bind(new.password_hash.clone())
    .bind(new.must_change_password)
    .bind(at);
    let roles = new.roles.iter().map(|role| {
        sqlx::query("INSERT INTO account_roles (account_id, role) VALUES ($1, $2)")
            .bind(id.to_owned())
            .bind(role.as_str().to_owned())
    });
    std::iter::once(account).chain(roles).collect()
}

/// The statement that relates a parent and a child; relating them twice is harmless.
pub fn guardianship_statement<DB: sqlx::Database>(parent_id: &str, child_id: &str) -> Statement<DB>
where
    String: Bind<DB>,
{
    sqlx::query(
        "INSERT INTO guardianships (parent_id, child_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(parent_id.to_owned())
    .bind(child_id.to_owned())
}

pub async fn insert(db: &Database, new: &NewAccount) -> Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let at = now();
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        for statement in insert_statements(&id, new, at) {
            statement.execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(id)
}

pub async fn by_id(db: &Database, id: &str) -> Result<Option<AccountRow>> {
    let sql = select("WHERE id = $1");
    Ok(with_db!(db, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await?))
}

pub async fn by_personal_code(db: &Database, code: &str) -> Result<Option<AccountRow>> {
    let sql = select("WHERE personal_code = $1");
    Ok(with_db!(db, pool => sqlx::query_as(sql).bind(code).fetch_optional(pool).await?))
}

/// Accounts a typed username can mean: the e-mail, or first and last name as one key.
pub async fn by_login(db: &Database, email: &str, name_key: &str) -> Result<Vec<AccountRow>> {
    let sql = select("WHERE email = $1 OR name_key = $2 ORDER BY created_at, id LIMIT 20");
    Ok(with_db!(db, pool => sqlx::query_as(sql).bind(email).bind(name_key).fetch_all(pool).await?))
}

/// Accounts whose name or e-mail contains `needle` (already normalised), newest first.
pub async fn search(db: &Database, needle: &str, limit: i64) -> Result<Vec<AccountRow>> {
    let pattern = format!("%{}%", needle.replace(['%', '_', '\\'], ""));
    let sql = select(
        "WHERE name_key LIKE $1 OR email LIKE $1 OR personal_code LIKE $1 ORDER BY last_name, first_name, id LIMIT $2",
    );
    Ok(with_db!(db, pool => sqlx::query_as(sql).bind(&pattern).bind(limit).fetch_all(pool).await?))
}

pub async fn count(db: &Database) -> Result<i64> {
    Ok(
        with_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(pool).await?),
    )
}

const UPDATE_PERSONAL_DATA: &str = "UPDATE accounts SET first_name = $2, last_name = $3, name_key = $4, \
     personal_code = $5, email = $6, phone = $7, address = $8, updated_at = $9 WHERE id = $1";

/// Saves personal data changed here and, in the same transaction, queues the changed fields for
/// the IdP, which passes them on to the person's linked accounts. False when there is no account.
/// `event` (its detail set to the changed fields' names) is recorded in the same transaction
/// when anything changed.
pub async fn update_personal_data(
    db: &Database,
    id: &str,
    data: &PersonalData,
    event: Event,
) -> Result<bool> {
    save_personal_data(db, id, |_| data.clone(), event).await
}

/// Changes only the given fields, on the data as stored at that moment: a field the person left
/// alone keeps what a linked institution may have changed meanwhile.
pub async fn patch_personal_data(
    db: &Database,
    id: &str,
    patch: &ProfileChanges,
    event: Event,
) -> Result<bool> {
    save_personal_data(
        db,
        id,
        |old| {
            let mut data = old.clone();
            // The patch holds values the form checked; one that did not fit would change nothing.
            if data.apply(patch).is_err() {
                return old.clone();
            }
            data
        },
        event,
    )
    .await
}

/// The names of the changed fields, for an audit event (never the values, old or new).
pub fn changed_fields(changes: &ProfileChanges) -> String {
    changes
        .keys()
        .map(|field| field.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

async fn save_personal_data(
    db: &Database,
    id: &str,
    new_data: impl Fn(&PersonalData) -> PersonalData,
    event: Event,
) -> Result<bool> {
    let at = now();
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        // Take the row's write lock before reading it, so a concurrent update from the IdP
        // cannot fall between the read and the write.
        let locked = sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if locked == 0 {
            return Ok(false);
        }
        let old: AccountRow = sqlx::query_as(select("WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let data = new_data(&old.data());
        sqlx::query(UPDATE_PERSONAL_DATA)
            .bind(id)
            .bind(&data.first_name)
            .bind(&data.last_name)
            .bind(shared::names::name_key(&data.first_name, &data.last_name))
            .bind(&data.personal_code)
            .bind(&data.email)
            .bind(&data.phone)
            .bind(&data.address)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        let changes = data.changes_since(&old.data());
        if !changes.is_empty() {
            let payload = serde_json::to_string(&changes).unwrap_or_else(|_| "{}".into());
            super::idp_outbox::enqueue_statement(MessageKind::Profile, id, payload, shared::retry::now_millis())
                .execute(&mut *tx)
                .await?;
            shared::audit::insert_statement(&event.clone().detail(changed_fields(&changes)))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    });
    Ok(true)
}

/// The IdP's version of a linked account: its personal data and the language its person last
/// chose at one of their linked schools (none while they chose none there).
#[derive(Debug, Clone, Copy)]
pub struct SyncedUpdate<'a> {
    pub data: &'a PersonalData,
    pub version: i64,
    pub language: Option<Language>,
}

/// What became of a profile update from the IdP.
#[derive(Debug, PartialEq, Eq)]
pub enum Synced {
    Applied,
    /// The account already has this version or a newer one.
    Stale,
    NotFound,
}

/// Applies the IdP's version of the personal data unless the account has a newer one. Nothing
/// is queued back: the change came from the IdP.
pub async fn apply_synced(
    db: &Database,
    id: &str,
    update: SyncedUpdate<'_>,
    event: Event,
) -> Result<Synced> {
    let SyncedUpdate {
        data,
        version,
        language,
    } = update;
    let key = shared::names::name_key(&data.first_name, &data.last_name);
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        // The row's write lock first, then what it held, so that the event names what changed.
        let locked = sqlx::query(
            "UPDATE accounts SET updated_at = updated_at WHERE id = $1 AND synced_version < $2",
        )
        .bind(id)
        .bind(version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if locked == 0 {
            drop(tx);
            return Ok(if by_id(db, id).await?.is_some() {
                Synced::Stale
            } else {
                Synced::NotFound
            });
        }
        let old: AccountRow = sqlx::query_as(select("WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let old_locale: Option<String> = sqlx::query_scalar("SELECT locale FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE accounts SET first_name = $2, last_name = $3, name_key = $4, personal_code = $5, email = $6, \
             phone = $7, address = $8, updated_at = $9, synced_version = $10, \
             locale = COALESCE($11, locale) WHERE id = $1",
        )
        .bind(id)
        .bind(&data.first_name)
        .bind(&data.last_name)
        .bind(&key)
        .bind(&data.personal_code)
        .bind(&data.email)
        .bind(&data.phone)
        .bind(&data.address)
        .bind(now())
        .bind(version)
        .bind(language.map(Language::as_str))
        .execute(&mut *tx)
        .await?;
        let mut changed = changed_fields(&data.changes_since(&old.data()));
        if language.is_some_and(|l| old_locale.as_deref() != Some(l.as_str())) {
            if !changed.is_empty() {
                changed.push(',');
            }
            changed.push_str("language");
        }
        if !changed.is_empty() {
            shared::audit::insert_statement(&event.detail(changed))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    });
    Ok(Synced::Applied)
}

/// Sets the password hash; `event`, when given, is recorded in the same transaction.
pub async fn set_password(
    db: &Database,
    id: &str,
    hash: &str,
    must_change: bool,
    event: Option<&Event>,
) -> Result<bool> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let done = sqlx::query(
            "UPDATE accounts SET password_hash = $2, must_change_password = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(hash)
        .bind(must_change)
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done != 1 {
            return Ok(false);
        }
        if let Some(event) = event {
            shared::audit::insert_statement(event).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(true)
}

/// Closes or reopens an account. Closing it with `tell_idp` also queues, in the same
/// transaction, the IdP's "sign out everywhere", so that it happens even if the IdP is away.
/// `event` is recorded in the same transaction.
pub async fn set_disabled(
    db: &Database,
    id: &str,
    disabled: bool,
    tell_idp: bool,
    event: &Event,
) -> Result<bool> {
    let at = now();
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let done = sqlx::query("UPDATE accounts SET disabled = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(disabled)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done != 1 {
            return Ok(false);
        }
        if disabled && tell_idp {
            super::idp_outbox::enqueue_statement(MessageKind::SignOut, id, "{}".into(), shared::retry::now_millis())
                .execute(&mut *tx)
                .await?;
        }
        shared::audit::insert_statement(event).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(true)
}

/// The person chose a language here: the account keeps it and, when it changed, the IdP is told
/// in the same transaction, for the person's linked schools. True when it changed.
pub async fn choose_locale(db: &Database, id: &str, language: Language) -> Result<bool> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE accounts SET locale = $2 WHERE id = $1 AND (locale IS NULL OR locale <> $2)",
        )
        .bind(id)
        .bind(language.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            super::idp_outbox::enqueue_statement(
                MessageKind::Language,
                id,
                language.as_str().to_owned(),
                shared::retry::now_millis(),
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    })
}

/// Records a language for the account without telling its linked schools (the language of the
/// application form it was made from).
pub async fn set_locale(db: &Database, id: &str, locale: &str) -> Result<()> {
    with_db!(db, pool => sqlx::query("UPDATE accounts SET locale = $2 WHERE id = $1")
        .bind(id)
        .bind(locale)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// The language the account's person last chose, if they chose one.
pub async fn locale(db: &Database, id: &str) -> Result<Option<String>> {
    Ok(with_db!(db, pool => sqlx::query_scalar::<_, Option<String>>("SELECT locale FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await)?
    .flatten())
}

pub async fn roles(db: &Database, id: &str) -> Result<Vec<Role>> {
    let names: Vec<String> = with_db!(db, pool => sqlx::query_scalar(
        "SELECT role FROM account_roles WHERE account_id = $1",
    )
    .bind(id)
    .fetch_all(pool)
    .await?);
    let mut roles: Vec<Role> = names.iter().filter_map(|n| Role::parse(n)).collect();
    roles.sort();
    Ok(roles)
}

/// The roles of many accounts in one query, by account id.
pub async fn roles_of_many(
    db: &Database,
    ids: &[String],
) -> Result<std::collections::HashMap<String, Vec<Role>>> {
    let mut by_id: std::collections::HashMap<String, Vec<Role>> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(by_id);
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT account_id, role FROM account_roles WHERE account_id IN ({})",
        placeholders.join(", ")
    );
    let rows: Vec<(String, String)> = with_db!(db, pool => {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
        for id in ids {
            query = query.bind(id);
        }
        query.fetch_all(pool).await?
    });
    for (id, name) in rows {
        if let Some(role) = Role::parse(&name) {
            by_id.entry(id).or_default().push(role);
        }
    }
    for roles in by_id.values_mut() {
        roles.sort();
    }
    Ok(by_id)
}

pub async fn set_roles(db: &Database, id: &str, roles: &[Role]) -> Result<()> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM account_roles WHERE account_id = $1").bind(id).execute(&mut *tx).await?;
        for role in roles {
            sqlx::query("INSERT INTO account_roles (account_id, role) VALUES ($1, $2)")
                .bind(id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

pub async fn children(db: &Database, parent_id: &str) -> Result<Vec<AccountRow>> {
    let sql = select(
        "WHERE id IN (SELECT child_id FROM guardianships WHERE parent_id = $1) ORDER BY first_name, id",
    );
    Ok(with_db!(db, pool => sqlx::query_as(sql).bind(parent_id).fetch_all(pool).await?))
}

pub async fn parents(db: &Database, child_id: &str) -> Result<Vec<AccountRow>> {
    let sql = select(
        "WHERE id IN (SELECT parent_id FROM guardianships WHERE child_id = $1) ORDER BY last_name, id",
    );
    Ok(with_db!(db, pool => sqlx::query_as(sql).bind(child_id).fetch_all(pool).await?))
}

pub async fn is_parent_of(db: &Database, parent_id: &str, child_id: &str) -> Result<bool> {
    let n: i64 = with_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM guardianships WHERE parent_id = $1 AND child_id = $2",
    )
    .bind(parent_id)
    .bind(child_id)
    .fetch_one(pool)
    .await?);
    Ok(n > 0)
}

pub async fn add_guardianship(db: &Database, parent_id: &str, child_id: &str) -> Result<()> {
    with_db!(db, pool => guardianship_statement(parent_id, child_id).execute(pool).await.map(|_| ())?);
    Ok(())
}

pub async fn remove_guardianship(db: &Database, parent_id: &str, child_id: &str) -> Result<()> {
    with_db!(db, pool => sqlx::query("DELETE FROM guardianships WHERE parent_id = $1 AND child_id = $2")
        .bind(parent_id)
        .bind(child_id)
        .execute(pool)
        .await
        .map(|_| ())?);
    Ok(())
}
