//! The `applications` table: parents' account applications and the admin's decisions.

use super::accounts::{NewAccount, guardianship_statement, insert_statements};
use super::outbox::{self, NewMail};
use super::{Database, Result, StoreError, with_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApplicationRow {
    pub id: String,
    pub parent_code: shared::PersonalCode,
    pub first_name: String,
    pub last_name: String,
    pub email: shared::Email,
    pub phone: shared::Phone,
    pub children_codes: String,
    pub locale: String,
    pub status: String,
    pub reason: Option<String>,
    pub account_id: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

const COLUMNS: &str = "id, parent_code, first_name, last_name, email, phone, children_codes, locale, status, reason, \
                       account_id, created_at, decided_at";

pub struct NewApplication {
    pub parent_code: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub children_codes: Vec<String>,
    pub locale: String,
}

/// Stores an application with the applicant's receipt letter, together; `Conflict` when one
/// for the same personal code is already pending.
pub async fn insert(
    db: &Database,
    new: &NewApplication,
    receipt: &NewMail,
    at: i64,
    mail_at: i64,
) -> Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO applications (id, parent_code, first_name, last_name, email, phone, children_codes, \
             locale, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9)",
        )
        .bind(&id)
        .bind(&new.parent_code)
        .bind(&new.first_name)
        .bind(&new.last_name)
        .bind(&new.email)
        .bind(&new.phone)
        .bind(new.children_codes.join(" "))
        .bind(&new.locale)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        outbox::insert_statement(receipt, mail_at).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(id)
}

pub async fn by_id(db: &Database, id: &str) -> Result<Option<ApplicationRow>> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM applications WHERE id = $1"));
    Ok(with_db!(db, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await?))
}

/// Pending applications first (oldest first), then the latest decisions.
pub async fn list(db: &Database, limit: i64) -> Result<Vec<ApplicationRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM applications ORDER BY CASE WHEN status = 'pending' THEN 0 ELSE 1 END, \
         CASE WHEN status = 'pending' THEN created_at ELSE -decided_at END, id LIMIT $1"
    ));
    Ok(with_db!(db, pool => sqlx::query_as(sql).bind(limit).fetch_all(pool).await?))
}

pub async fn count(db: &Database) -> Result<i64> {
    Ok(
        with_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM applications").fetch_one(pool).await?),
    )
}

/// What approving an application does, all in one transaction.
pub struct Approval<'a> {
    pub application_id: &'a str,
    /// A new parent account, or None when the parent already has one (`parent_id`).
    pub new_account: Option<&'a NewAccount>,
    pub parent_id: &'a str,
    pub child_ids: &'a [String],
    pub extra_role_for_existing: bool,
    pub mail: &'a NewMail,
}

/// Approves a pending application: the account, the relations, the decision and the letter
/// commit together or not at all. `Conflict` when it was no longer pending.
pub async fn approve(db: &Database, approval: &Approval<'_>, at: i64, mail_at: i64) -> Result<()> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let decided = sqlx::query(
            "UPDATE applications SET status = 'approved', account_id = $2, decided_at = $3 \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(approval.application_id)
        .bind(approval.parent_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if decided.rows_affected() != 1 {
            return Err(StoreError::Conflict);
        }
        if let Some(new) = approval.new_account {
            for statement in insert_statements(approval.parent_id, new, at) {
                statement.execute(&mut *tx).await?;
            }
        } else if approval.extra_role_for_existing {
            sqlx::query("INSERT INTO account_roles (account_id, role) VALUES ($1, 'parent') ON CONFLICT DO NOTHING")
                .bind(approval.parent_id)
                .execute(&mut *tx)
                .await?;
        }
        for child in approval.child_ids {
            guardianship_statement(approval.parent_id, child).execute(&mut *tx).await?;
        }
        outbox::insert_statement(approval.mail, mail_at).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Rejects a pending application with a reason and queues the letter, together.
pub async fn reject(
    db: &Database,
    id: &str,
    reason: &str,
    mail: &NewMail,
    at: i64,
    mail_at: i64,
) -> Result<()> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let decided = sqlx::query(
            "UPDATE applications SET status = 'rejected', reason = $2, decided_at = $3 WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(reason)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if decided.rows_affected() != 1 {
            return Err(StoreError::Conflict);
        }
        outbox::insert_statement(mail, mail_at).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(())
}
