//! IdP sessions: who proved which account at which institution, kept in the ephemeral store
//! (memory, or Redis so that every IdP instance sees them). The cookie holds a random key; the
//! `sid` that tokens carry is a separate random value.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::ephemeral::Ephemeral;
use shared::jwt::Claims;
use shared::{AccountId, ClientId, Clock, Sid};

use super::random_token;
use crate::oidc::acr::Acr;

pub const COOKIE: &str = "idp_session";

/// An account at one node that the person proved in this session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedInAccount {
    pub sub: AccountId,
    pub claims: Claims,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: Acr,
    /// Set when the account was opened through a link from the account at this node, rather
    /// than proven itself; such an account goes when the link does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_link: Option<ClientId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdpSession {
    pub sid: Sid,
    pub created_at: i64,
    /// The last time the session was used; idle expiry counts from here.
    #[serde(default)]
    pub last_seen: i64,
    /// By the node's client id.
    pub accounts: BTreeMap<ClientId, SignedInAccount>,
    /// Clients that received tokens in this session (the logout fan-out's list).
    pub participants: BTreeSet<ClientId>,
    /// Where the session is already filed, so that a save files it only when that changes.
    #[serde(default)]
    pub filed: Filed,
    /// The nav bar's institutions by node, as read at a links generation.
    #[serde(default)]
    pub nav: BTreeMap<ClientId, NavCache>,
    /// The browser it began in and its network, for the person's list of their sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// Linked institutions read for one account, valid while no link anywhere has changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NavCache {
    pub generation: u64,
    pub sub: AccountId,
    pub institutions: Vec<shared::profile::Institution>,
}

/// The expiry bucket and the account indexes a session is filed under, for one cookie.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Filed {
    /// A prefix of the cookie it was filed for (a sign-in moves a session to a new cookie).
    cookie: String,
    bucket: i64,
    accounts: BTreeSet<String>,
}

impl IdpSession {
    pub fn new(now: i64) -> Self {
        Self {
            sid: Sid::new(&random_token()[..32]),
            created_at: now,
            last_seen: now,
            accounts: BTreeMap::new(),
            participants: BTreeSet::new(),
            filed: Filed::default(),
            nav: BTreeMap::new(),
            user_agent: None,
            network: None,
        }
    }
}

#[derive(Clone)]
pub struct Sessions {
    store: Ephemeral,
    clock: Clock,
    idle_seconds: i64,
    max_seconds: i64,
    /// Expiry is tracked in buckets this many seconds wide; the sweeper visits each once.
    bucket_seconds: i64,
}

fn key(cookie: &str) -> String {
    format!("session:{cookie}")
}

fn bucket_key(bucket: i64) -> String {
    format!("session-expiry:{bucket}")
}

/// Sessions by account, so a sign-out everywhere finds them.
fn account_key(node_id: &ClientId, sub: &AccountId) -> String {
    format!("account-sessions:{node_id}:{sub}")
}

const LAST_SWEPT: &str = "session-expiry:last-swept";

/// An expired session being announced by one instance, held this long at most.
fn sweeping_key(cookie: &str) -> String {
    format!("session-expiry:sweeping:{cookie}")
}

const SWEEP_CLAIM: Duration = Duration::from_secs(60);

/// An expired session stays stored this long past its end, for the sweeper to announce it.
const GRACE_SECONDS: i64 = 600;

fn ttl(seconds: i64) -> Duration {
    Duration::from_secs(u64::try_from(seconds.max(1)).unwrap_or(1))
}

impl Sessions {
    pub fn new(
        store: Ephemeral,
        clock: Clock,
        idle_seconds: i64,
        max_seconds: i64,
        bucket_seconds: i64,
    ) -> Self {
        Self {
            store,
            clock,
            idle_seconds: idle_seconds.max(1),
            max_seconds: max_seconds.max(1),
            bucket_seconds: bucket_seconds.max(1),
        }
    }

    /// When the session ends unless it is used again.
    fn ends_at(&self, session: &IdpSession) -> i64 {
        (session.last_seen.max(session.created_at) + self.idle_seconds)
            .min(session.created_at + self.max_seconds)
    }

    /// A new, empty session starting now, in the browser of the request being answered.
    pub fn start(&self) -> IdpSession {
        let client = shared::audit::current_client();
        IdpSession {
            user_agent: client.user_agent,
            network: client.network,
            ..IdpSession::new(self.clock.now())
        }
    }

    async fn load_raw(&self, cookie: &str) -> anyhow::Result<Option<IdpSession>> {
        let Some(bytes) = self.store.get(&key(cookie)).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice::<IdpSession>(&bytes).ok())
    }

    /// The live session behind a cookie value. An expired one is not offered; it stays
    /// stored for the sweeper, which tells its clients (back-channel logout) and removes it.
    pub async fn load(&self, cookie: &str) -> anyhow::Result<Option<IdpSession>> {
        let now = self.clock.now();
        if cookie.len() != 64 || !cookie.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        Ok(self
            .load_raw(cookie)
            .await?
            .filter(|s| now < self.ends_at(s)))
    }

    /// Saves the session, restarts its idle timer, and files it under its expiry and accounts.
    pub async fn save(&self, cookie: &str, session: &IdpSession) -> anyhow::Result<()> {
        let now = self.clock.now();
        let mut session = session.clone();
        session.last_seen = now;
        let ends = self.ends_at(&session);
        let keep = ttl(ends - now + GRACE_SECONDS);
        let tag = &cookie[..cookie.len().min(16)];
        if session.filed.cookie != tag {
            session.filed = Filed {
                cookie: tag.to_owned(),
                bucket: i64::MIN,
                accounts: BTreeSet::new(),
            };
        }
        let bucket = ends / self.bucket_seconds;
        if session.filed.bucket != bucket {
            // Filed under one bucket only, so that counting the buckets counts the sessions.
            if session.filed.bucket != i64::MIN {
                self.store
                    .remove_from_set(&bucket_key(session.filed.bucket), cookie)
                    .await?;
            }
            self.store
                .add_to_set(&bucket_key(bucket), cookie, keep)
                .await?;
            session.filed.bucket = bucket;
        }
        for (node_id, account) in &session.accounts {
            let index = account_key(node_id, &account.sub);
            if !session.filed.accounts.contains(&index) {
                self.store
                    .add_to_set(
                        &index,
                        cookie,
                        ttl(session.created_at + self.max_seconds - now + GRACE_SECONDS),
                    )
                    .await?;
                session.filed.accounts.insert(index);
            }
        }
        self.store
            .set(&key(cookie), &serde_json::to_vec(&session)?, keep)
            .await
    }

    /// Removes the session behind `cookie`; `session` is what was loaded from it, if anything.
    pub async fn delete(&self, cookie: &str, session: Option<&IdpSession>) -> anyhow::Result<()> {
        let filed_here =
            |s: &&IdpSession| !s.filed.cookie.is_empty() && cookie.starts_with(&s.filed.cookie);
        if let Some(s) = session.filter(filed_here) {
            self.store
                .remove_from_set(&bucket_key(s.filed.bucket), cookie)
                .await?;
        }
        self.store.delete(&key(cookie)).await
    }

    /// Sessions that have not ended yet, on every instance.
    pub async fn active_count(&self) -> anyhow::Result<u64> {
        let now = self.clock.now();
        let buckets = (now / self.bucket_seconds..=(now + self.idle_seconds) / self.bucket_seconds)
            .map(bucket_key)
            .collect::<Vec<_>>();
        self.store.count_in_sets(&buckets).await
    }

    /// The buckets to sweep: those wholly past since the last sweep (by any IdP instance);
    /// a long pause does not replay all history.
    async fn unswept(&self) -> anyhow::Result<Range<i64>> {
        let current = self.clock.now() / self.bucket_seconds;
        let oldest = current - 1 - GRACE_SECONDS / self.bucket_seconds;
        let last = match self.store.get(LAST_SWEPT).await? {
            Some(v) => std::str::from_utf8(&v)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(current - 1),
            None => oldest,
        };
        Ok((last + 1).max(oldest)..current)
    }

    /// The sessions that have expired since the last sweep, by cookie, and the buckets read
    /// (for `swept`). They stay stored and filed until `delete`d: one whose end could not be
    /// announced (the database down, the process stopped midway) is found again by the next
    /// sweep.
    pub async fn expired(&self) -> anyhow::Result<(Range<i64>, Vec<(String, IdpSession)>)> {
        let now = self.clock.now();
        let unswept = self.unswept().await?;
        let mut found = Vec::new();
        for bucket in unswept.clone() {
            let filed = bucket_key(bucket);
            for cookie in self.store.members(&filed).await? {
                match self.load_raw(&cookie).await? {
                    Some(session) if now >= self.ends_at(&session) => found.push((cookie, session)),
                    // Gone already, or used since and filed under a later bucket.
                    _ => self.store.remove_from_set(&filed, &cookie).await?,
                }
            }
        }
        Ok((unswept, found))
    }

    /// Takes an expired session for this instance for a while, so that two sweeping at once
    /// do not both announce it; false when another has it.
    pub async fn claim_expired(&self, cookie: &str) -> anyhow::Result<bool> {
        self.store
            .set_new(&sweeping_key(cookie), b"1", SWEEP_CLAIM)
            .await
    }

    /// Lets the next sweep try again a session whose end could not be announced.
    pub async fn release_expired(&self, cookie: &str) -> anyhow::Result<()> {
        self.store.delete(&sweeping_key(cookie)).await
    }

    /// Records the sweep of the buckets `expired` read as far as the first still holding a
    /// session (one whose end was not announced): the next sweep starts there.
    pub async fn swept(&self, unswept: Range<i64>) -> anyhow::Result<()> {
        let mut through = unswept.start - 1;
        for bucket in unswept {
            if self.store.count_in_sets(&[bucket_key(bucket)]).await? > 0 {
                break;
            }
            through = bucket;
        }
        self.store
            .set(
                LAST_SWEPT,
                through.to_string().as_bytes(),
                ttl(GRACE_SECONDS * 10),
            )
            .await
    }

    /// Every session that has not ended, by cookie: what an operator's action on a whole
    /// institution goes through.
    pub async fn live(&self) -> anyhow::Result<Vec<(String, IdpSession)>> {
        let now = self.clock.now();
        let mut seen = BTreeSet::new();
        let mut found = Vec::new();
        for bucket in now / self.bucket_seconds..=(now + self.idle_seconds) / self.bucket_seconds {
            for cookie in self.store.members(&bucket_key(bucket)).await? {
                if !seen.insert(cookie.clone()) {
                    continue;
                }
                if let Some(session) = self.load_raw(&cookie).await?
                    && now < self.ends_at(&session)
                {
                    found.push((cookie, session));
                }
            }
        }
        Ok(found)
    }

    /// The sessions in which the account at `node_id` is signed in, by cookie. The account's
    /// index is read, not taken: a session leaves it only once it has ended (see `end_filed`),
    /// so a request cut off midway leaves the rest to be found again.
    pub async fn sessions_of(
        &self,
        node_id: &ClientId,
        sub: &AccountId,
    ) -> anyhow::Result<Vec<(String, IdpSession)>> {
        let index = account_key(node_id, sub);
        let mut found = Vec::new();
        for cookie in self.store.members(&index).await? {
            match self.load_raw(&cookie).await? {
                Some(session) if session.accounts.get(node_id).is_some_and(|a| &a.sub == sub) => {
                    found.push((cookie, session));
                }
                // Ended or moved on to another account: nothing of this account's is left there.
                _ => self.store.remove_from_set(&index, &cookie).await?,
            }
        }
        Ok(found)
    }

    /// Ends a session `sessions_of` found, then takes it out of that account's index.
    pub async fn end_filed(
        &self,
        cookie: &str,
        session: &IdpSession,
        node_id: &ClientId,
        sub: &AccountId,
    ) -> anyhow::Result<()> {
        self.delete(cookie, Some(session)).await?;
        self.store
            .remove_from_set(&account_key(node_id, sub), cookie)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(clock: &Clock) -> Sessions {
        Sessions::new(Ephemeral::memory(), clock.clone(), 60, 3600, 10)
    }

    fn signed_in(session: &mut IdpSession, node: &str, sub: &str) {
        session.accounts.insert(
            ClientId::from(node),
            SignedInAccount {
                sub: AccountId::from(sub),
                claims: Claims::new(),
                auth_time: 0,
                amr: vec!["pwd".into()],
                acr: Acr::Low,
                via_link: None,
            },
        );
    }

    /// The sweeper's part here, its announcing left out: ends the expired sessions and
    /// returns them.
    async fn sweep(sessions: &Sessions) -> Vec<IdpSession> {
        let mut ended = Vec::new();
        let (unswept, expired) = sessions.expired().await.unwrap();
        for (cookie, session) in expired {
            if sessions.claim_expired(&cookie).await.unwrap() {
                sessions.delete(&cookie, Some(&session)).await.unwrap();
                ended.push(session);
            }
        }
        sessions.swept(unswept).await.unwrap();
        ended
    }

    #[tokio::test]
    async fn an_expired_session_whose_end_was_not_announced_is_found_by_the_next_sweep() {
        let clock = Clock::manual();
        let sessions = sessions(&clock);
        let cookie = random_token();
        let mut a = sessions.start();
        signed_in(&mut a, "jpk", "1");
        sessions.save(&cookie, &a).await.unwrap();
        clock.advance(Duration::from_secs(75));
        let (unswept, found) = sessions.expired().await.unwrap();
        assert_eq!(found.len(), 1);
        assert!(sessions.claim_expired(&cookie).await.unwrap());
        assert!(
            !sessions.claim_expired(&cookie).await.unwrap(),
            "a second sweeper leaves it to the first"
        );
        // Announcing failed (the database down): released, not ended.
        sessions.release_expired(&cookie).await.unwrap();
        sessions.swept(unswept).await.unwrap();
        clock.advance(Duration::from_secs(30));
        let ended = sweep(&sessions).await;
        assert_eq!(ended.iter().map(|s| &s.sid).collect::<Vec<_>>(), [&a.sid]);
        assert!(sweep(&sessions).await.is_empty(), "announced once");
    }

    #[tokio::test]
    async fn the_sweep_ends_idle_sessions_once_and_spares_those_in_use() {
        let clock = Clock::manual();
        let sessions = sessions(&clock);
        let (idle, used) = (random_token(), random_token());
        let mut a = sessions.start();
        signed_in(&mut a, "jpk", "1");
        sessions.save(&idle, &a).await.unwrap();
        let b = sessions.start();
        sessions.save(&used, &b).await.unwrap();
        assert!(sweep(&sessions).await.is_empty());

        clock.advance(Duration::from_secs(50));
        let b = sessions.load(&used).await.unwrap().expect("in use");
        sessions.save(&used, &b).await.unwrap();
        clock.advance(Duration::from_secs(25));
        assert!(
            sessions.load(&idle).await.unwrap().is_none(),
            "idle past 60 s"
        );
        let ended = sweep(&sessions).await;
        assert_eq!(ended.iter().map(|s| &s.sid).collect::<Vec<_>>(), [&a.sid]);
        assert!(sweep(&sessions).await.is_empty(), "announced once");
        assert!(sessions.load(&used).await.unwrap().is_some());

        clock.advance(Duration::from_secs(60));
        let ended = sweep(&sessions).await;
        assert_eq!(ended.iter().map(|s| &s.sid).collect::<Vec<_>>(), [&b.sid]);
    }

    #[tokio::test]
    async fn a_session_ends_at_its_absolute_limit_however_busy() {
        let clock = Clock::manual();
        let sessions = Sessions::new(Ephemeral::memory(), clock.clone(), 60, 100, 10);
        let cookie = random_token();
        sessions.save(&cookie, &sessions.start()).await.unwrap();
        for _ in 0..3 {
            clock.advance(Duration::from_secs(30));
            let s = sessions.load(&cookie).await.unwrap().expect("alive");
            sessions.save(&cookie, &s).await.unwrap();
        }
        clock.advance(Duration::from_secs(15));
        assert!(sessions.load(&cookie).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn ending_an_accounts_sessions_finds_only_that_account() {
        let clock = Clock::manual();
        let sessions = sessions(&clock);
        let (c1, c2) = (random_token(), random_token());
        let mut s1 = sessions.start();
        signed_in(&mut s1, "jpk", "mari");
        sessions.save(&c1, &s1).await.unwrap();
        let mut s2 = sessions.start();
        signed_in(&mut s2, "jpk", "jaan");
        sessions.save(&c2, &s2).await.unwrap();
        let (jpk, mari) = (ClientId::from("jpk"), AccountId::from("mari"));
        let found = sessions.sessions_of(&jpk, &mari).await.unwrap();
        assert_eq!(found.len(), 1);
        let (cookie, session) = &found[0];
        sessions
            .end_filed(cookie, session, &jpk, &mari)
            .await
            .unwrap();
        assert!(sessions.load(&c1).await.unwrap().is_none());
        assert!(sessions.sessions_of(&jpk, &mari).await.unwrap().is_empty());
        assert!(sessions.load(&c2).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn active_sessions_are_counted_once_however_often_used_and_not_after_their_end() {
        let clock = Clock::manual();
        let sessions = sessions(&clock);
        let (used, left, ended) = (random_token(), random_token(), random_token());
        for cookie in [&used, &left, &ended] {
            sessions.save(cookie, &sessions.start()).await.unwrap();
        }
        assert_eq!(sessions.active_count().await.unwrap(), 3);
        // Used again and again, the session moves from bucket to bucket but counts once.
        for _ in 0..4 {
            clock.advance(Duration::from_secs(11));
            let s = sessions.load(&used).await.unwrap().expect("alive");
            sessions.save(&used, &s).await.unwrap();
        }
        assert_eq!(sessions.active_count().await.unwrap(), 3);
        let s = sessions.load(&ended).await.unwrap();
        sessions.delete(&ended, s.as_ref()).await.unwrap();
        assert_eq!(sessions.active_count().await.unwrap(), 2, "signed out");
        clock.advance(Duration::from_secs(30));
        sweep(&sessions).await;
        assert_eq!(
            sessions.active_count().await.unwrap(),
            1,
            "idle past its end"
        );
    }
}
