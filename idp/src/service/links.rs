//! Links between accounts at different institutions (DESIGN §3.3, §4.4–4.6): the rule two
//! accounts are linked by, single sign-on through links, and the shared profile's sync.

use shared::matching::{Verdict, compare_profiles};
use shared::names::better_spelling;
use shared::profile::{Institution, ProfileChanges, ProfileField, SharedProfile};

use super::clients::{Client, Registry};
use super::delivery::{Deliveries, now_millis};
use super::federation::{self, AccountQuery, NodeAccount};
use super::keys::KeyRing;
use super::sessions::{IdpSession, NavCache, Sessions};
use crate::store::Database;
use crate::store::persons::{self, Link, Linked, Timing};

/// What comparing two accounts found.
#[derive(Debug)]
pub enum Review {
    /// One person: the link may be made, keeping `proposed` unless the person chooses otherwise.
    Match {
        a: Box<NodeAccount>,
        b: Box<NodeAccount>,
        proposed: SharedProfile,
        /// Fields where the accounts differ and the person chooses.
        choices: Vec<ProfileField>,
    },
    Mismatch {
        differing: Vec<shared::matching::Field>,
        uncorroborated: bool,
    },
    AlreadyLinked,
    /// A node could not be asked, or no longer has the account.
    Unavailable,
}

#[derive(Clone)]
pub struct Links {
    pub db: Database,
    /// Holds the links generation, which every change of a link moves on.
    pub store: shared::ephemeral::Ephemeral,
    pub http: reqwest::Client,
    pub keys: KeyRing,
    pub clients: Registry,
    pub issuer: String,
    pub deliveries: Deliveries,
}

/// The ephemeral key of the links generation.
const GENERATION: &str = "links-generation";

/// The fields a person may choose between when two linked accounts differ in them.
const CHOOSABLE: [ProfileField; 3] = [
    ProfileField::Email,
    ProfileField::Phone,
    ProfileField::Address,
];

impl Links {
    /// The institutions linked to this account, itself left out, for the nav bar.
    pub async fn institutions(&self, node_id: &str, sub: &str) -> anyhow::Result<Vec<Institution>> {
        let me = Link {
            node_id: node_id.to_owned(),
            sub: sub.to_owned(),
        };
        let linked = persons::linked_accounts(&self.db, &me).await?;
        Ok(linked
            .iter()
            .filter(|l| l.node_id != node_id)
            .filter_map(|l| self.clients.get(&l.node_id))
            .filter_map(|c| {
                let base = c.federation_url.as_deref()?.trim_end_matches('/');
                Some(Institution {
                    client_id: c.client_id.clone(),
                    name: c.name.clone(),
                    logo_uri: c.logo_url.clone(),
                    url: format!("{base}/sso/start"),
                })
            })
            .collect())
    }

    /// The institutions for the nav bar, from the session while no link has changed since.
    pub async fn institutions_for(
        &self,
        session: &mut IdpSession,
        node_id: &str,
        sub: &str,
    ) -> anyhow::Result<Vec<Institution>> {
        let generation = self.store.count(GENERATION).await?;
        if let Some(cached) = session.nav.get(node_id)
            && cached.generation == generation
            && cached.sub == sub
        {
            return Ok(cached.institutions.clone());
        }
        let list = self.institutions(node_id, sub).await?;
        session.nav.insert(
            node_id.to_owned(),
            NavCache {
                generation,
                sub: sub.to_owned(),
                institutions: list.clone(),
            },
        );
        Ok(list)
    }

    async fn links_changed(&self) -> anyhow::Result<()> {
        self.store
            .incr(GENERATION, std::time::Duration::from_secs(365 * 86_400))
            .await?;
        Ok(())
    }

    /// The account at `node_id` linked to any account proven in the session.
    pub async fn linked_at(
        &self,
        session: &IdpSession,
        node_id: &str,
    ) -> anyhow::Result<Option<(String, String)>> {
        for (from_node, account) in &session.accounts {
            if account.via_link.is_some() {
                continue;
            }
            let me = Link {
                node_id: from_node.clone(),
                sub: account.sub.clone(),
            };
            let linked = persons::linked_accounts(&self.db, &me).await?;
            if let Some(there) = linked.into_iter().find(|l| l.node_id == node_id) {
                return Ok(Some((from_node.clone(), there.sub)));
            }
        }
        Ok(None)
    }

    /// Whether the account `sub` at `node_id` is still linked to the one at `from_node`.
    pub async fn still_linked(
        &self,
        session: &IdpSession,
        node_id: &str,
        sub: &str,
        from_node: &str,
    ) -> anyhow::Result<bool> {
        let Some(from) = session.accounts.get(from_node) else {
            return Ok(false);
        };
        let me = Link {
            node_id: from_node.to_owned(),
            sub: from.sub.clone(),
        };
        let linked = persons::linked_accounts(&self.db, &me).await?;
        Ok(linked.iter().any(|l| l.node_id == node_id && l.sub == sub))
    }

    /// The node's active account `sub`, as it is now; None when it is gone or disabled.
    pub async fn lookup(&self, node_id: &str, sub: &str) -> anyhow::Result<Option<NodeAccount>> {
        let client = self.node(node_id)?;
        let query = AccountQuery {
            sub: Some(sub.to_owned()),
            personal_code: None,
        };
        federation::lookup_account(&self.http, &self.keys, &self.issuer, &client, &query).await
    }

    fn node(&self, node_id: &str) -> anyhow::Result<std::sync::Arc<Client>> {
        self.clients
            .get(node_id)
            .ok_or_else(|| anyhow::anyhow!("{node_id} is not a registered node"))
    }

    /// Compares the two accounts as their nodes describe them now.
    pub async fn review(&self, a: &Link, b: &Link) -> anyhow::Result<Review> {
        let (pa, pb) = (
            persons::person_of(&self.db, a).await?,
            persons::person_of(&self.db, b).await?,
        );
        if pa.is_some() && pa == pb {
            return Ok(Review::AlreadyLinked);
        }
        let (Ok(Some(account_a)), Ok(Some(account_b))) = (
            self.lookup(&a.node_id, &a.sub).await,
            self.lookup(&b.node_id, &b.sub).await,
        ) else {
            return Ok(Review::Unavailable);
        };
        let verdict = compare_profiles(
            &account_a.profile.for_matching(),
            &account_b.profile.for_matching(),
        );
        Ok(match verdict {
            Verdict::Mismatch {
                differing,
                uncorroborated,
            } => Review::Mismatch {
                differing,
                uncorroborated,
            },
            Verdict::Match { .. } => {
                let (newer, older) = if account_b.updated_at > account_a.updated_at {
                    (&account_b.profile, &account_a.profile)
                } else {
                    (&account_a.profile, &account_b.profile)
                };
                let proposed = merged(newer, older);
                let choices = CHOOSABLE
                    .into_iter()
                    .filter(|f| {
                        let (x, y) = (account_a.profile.get(*f), account_b.profile.get(*f));
                        x.is_some() && y.is_some() && x != y
                    })
                    .collect();
                Review::Match {
                    a: Box::new(account_a),
                    b: Box::new(account_b),
                    proposed,
                    choices,
                }
            }
        })
    }

    /// Links the accounts with the profile the person confirmed.
    pub async fn confirm(
        &self,
        a: &Link,
        b: &Link,
        profile: &SharedProfile,
    ) -> anyhow::Result<Linked> {
        let at = now_millis();
        let timing = Timing {
            at_millis: at,
            deadline_millis: self.deliveries.profile_deadline(at),
        };
        let linked = persons::link(&self.db, a, b, profile, timing).await?;
        self.links_changed().await?;
        self.deliveries.wake();
        Ok(linked)
    }

    /// A change made at a node; None when the account is linked to nothing.
    pub async fn apply_changes(
        &self,
        from: &Link,
        changes: &ProfileChanges,
    ) -> anyhow::Result<Option<i64>> {
        if changes.is_empty() {
            return Ok(None);
        }
        let at = now_millis();
        let timing = Timing {
            at_millis: at,
            deadline_millis: self.deliveries.profile_deadline(at),
        };
        let version = persons::apply_changes(&self.db, from, changes, timing).await?;
        self.deliveries.wake();
        Ok(version)
    }

    /// Ends every IdP session in which this account or one linked to it is signed in, and
    /// announces each end to its clients; returns how many sessions ended.
    pub async fn sign_out_everywhere(
        &self,
        from: &Link,
        sessions: &Sessions,
    ) -> anyhow::Result<usize> {
        let mut accounts = persons::linked_accounts(&self.db, from).await?;
        if accounts.is_empty() {
            accounts.push(from.clone());
        }
        let mut ended = 0;
        for account in accounts {
            for session in sessions
                .end_sessions_of(&account.node_id, &account.sub)
                .await?
            {
                self.deliveries.announce_logout(&session).await?;
                ended += 1;
            }
        }
        Ok(ended)
    }

    pub async fn unlink(&self, from: &Link, node_id: &str) -> anyhow::Result<bool> {
        let removed = persons::unlink(&self.db, from, node_id).await?;
        self.links_changed().await?;
        Ok(removed)
    }
}

/// The newer account's values, with the older one's filling what the newer lacks. The names
/// match after normalisation; the better-written spelling stays.
fn merged(newer: &SharedProfile, older: &SharedProfile) -> SharedProfile {
    let mut out = newer.clone();
    out.first_name = better_spelling(&newer.first_name, &older.first_name).to_owned();
    out.last_name = better_spelling(&newer.last_name, &older.last_name).to_owned();
    for field in SharedProfile::FIELDS {
        if out.get(field).is_none() {
            out.set(field, older.get(field).map(str::to_owned));
        }
    }
    out
}
