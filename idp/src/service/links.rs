//! Links between accounts at different institutions (DESIGN §3.3, §4.4–4.6): the rule two
//! accounts are linked by, single sign-on through links, and the shared profile's sync.

use shared::matching::{Verdict, compare_profiles};
use shared::names::better_spelling;
use shared::profile::{Institution, ProfileField, SharedProfile};

use shared::federation::AccountQuery;
use shared::{AccountId, ClientId, Clock};

use super::clients::{Client, Registry};
use super::delivery::Deliveries;
use super::federation::{NodeAccount, NodeApi};
use super::sessions::{IdpSession, NavCache};
use crate::store::Database;
use crate::store::persons::{self, Link, Linked, NodeChange, Timing};
use shared::audit::{Actor, ActorKind, Event, kind};

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
    /// Audit events (the person's data tracker).
    pub audit: shared::audit::Recorder,
    pub db: Database,
    /// Holds the links generation, which every change of a link moves on.
    pub store: shared::ephemeral::Ephemeral,
    pub nodes: NodeApi,
    pub clients: Registry,
    pub deliveries: Deliveries,
    pub clock: Clock,
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
    pub async fn institutions(
        &self,
        node_id: &ClientId,
        sub: &AccountId,
    ) -> anyhow::Result<Vec<Institution>> {
        institutions_of(&self.db, &self.clients, node_id, sub).await
    }

    /// The institutions for the nav bar, from the session while no link has changed since.
    pub async fn institutions_for(
        &self,
        session: &mut IdpSession,
        node_id: &ClientId,
        sub: &AccountId,
    ) -> anyhow::Result<Vec<Institution>> {
        let generation = self.store.count(GENERATION).await?;
        if let Some(cached) = session.nav.get(node_id)
            && cached.generation == generation
            && &cached.sub == sub
        {
            return Ok(cached.institutions.clone());
        }
        let list = self.institutions(node_id, sub).await?;
        session.nav.insert(
            node_id.clone(),
            NavCache {
                generation,
                sub: sub.clone(),
                institutions: list.clone(),
            },
        );
        Ok(list)
    }

    /// Every nav bar is read again (a link changed, or an institution was disabled).
    pub async fn links_changed(&self) -> anyhow::Result<()> {
        self.store
            .incr(GENERATION, std::time::Duration::from_secs(365 * 86_400))
            .await?;
        Ok(())
    }

    /// The account at `node_id` linked to any account proven in the session.
    pub async fn linked_at(
        &self,
        session: &IdpSession,
        node_id: &ClientId,
    ) -> anyhow::Result<Option<(ClientId, AccountId)>> {
        for (from_node, account) in &session.accounts {
            if account.via_link.is_some() {
                continue;
            }
            let me = Link {
                node_id: from_node.clone(),
                sub: account.sub.clone(),
            };
            let linked = persons::linked_accounts(&self.db, &me).await?;
            if let Some(there) = linked.into_iter().find(|l| &l.node_id == node_id) {
                return Ok(Some((from_node.clone(), there.sub)));
            }
        }
        Ok(None)
    }

    /// Whether the account `sub` at `node_id` is still linked to the one at `from_node`.
    pub async fn still_linked(
        &self,
        session: &IdpSession,
        node_id: &ClientId,
        sub: &AccountId,
        from_node: &ClientId,
    ) -> anyhow::Result<bool> {
        let Some(from) = session.accounts.get(from_node) else {
            return Ok(false);
        };
        let me = Link {
            node_id: from_node.clone(),
            sub: from.sub.clone(),
        };
        let linked = persons::linked_accounts(&self.db, &me).await?;
        Ok(linked
            .iter()
            .any(|l| &l.node_id == node_id && &l.sub == sub))
    }

    /// The node's active account `sub`, as it is now; None when it is gone or disabled.
    pub async fn lookup(
        &self,
        node_id: &ClientId,
        sub: &AccountId,
    ) -> anyhow::Result<Option<NodeAccount>> {
        let client = self.node(node_id)?;
        let query = AccountQuery {
            sub: Some(sub.clone()),
            personal_code: None,
            for_linking_with: None,
        };
        self.nodes.lookup_account(&client, &query).await
    }

    /// The node's account `sub`, read to compare it with the account at `other` before
    /// linking (the node shows the read in the person's data tracker).
    async fn read_for_linking(
        &self,
        account: &Link,
        other: &ClientId,
    ) -> anyhow::Result<Option<NodeAccount>> {
        let client = self.node(&account.node_id)?;
        let reader = self.node(other)?;
        let query = AccountQuery {
            sub: Some(account.sub.clone()),
            personal_code: None,
            for_linking_with: Some(shared::profile::ChangeOrigin {
                client_id: reader.client_id.to_string(),
                name: reader.name.clone(),
            }),
        };
        self.nodes.lookup_account(&client, &query).await
    }

    /// Every account linked with this one, itself included; empty when it is linked to none.
    pub async fn linked_accounts(&self, account: &Link) -> anyhow::Result<Vec<Link>> {
        Ok(persons::linked_accounts(&self.db, account).await?)
    }

    fn node(&self, node_id: &ClientId) -> anyhow::Result<std::sync::Arc<Client>> {
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
            self.read_for_linking(a, &b.node_id).await,
            self.read_for_linking(b, &a.node_id).await,
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
        let at = self.clock.now_millis();
        let timing = Timing {
            at_millis: at,
            deadline_millis: self.deliveries.profile_deadline(at),
        };
        let linked = persons::link(&self.db, a, b, profile, timing).await?;
        self.links_changed().await?;
        self.deliveries.wake();
        if let Linked::Done { person_id, links } = &linked {
            // Linking two accounts that each had other links merges two persons.
            let kind = if links.len() > 2 {
                kind::MERGE
            } else {
                kind::LINK
            };
            for (this, other) in [(a, b), (b, a)] {
                let event = Event::new(kind, Actor::of(ActorKind::Person))
                    .subject(account_subject(this))
                    .at_institution(this.node_id.as_str())
                    .detail(format!("with {}; person:{person_id}", other.node_id));
                self.audit.now(event).await?;
            }
        }
        Ok(linked)
    }

    /// A change made at a node; None when the account is linked to nothing.
    pub async fn apply_changes(&self, change: NodeChange<'_>) -> anyhow::Result<Option<i64>> {
        if change.changes.is_empty() && change.language.is_none() {
            return Ok(None);
        }
        let from = change.from;
        let at = self.clock.now_millis();
        let timing = Timing {
            at_millis: at,
            deadline_millis: self.deliveries.profile_deadline(at),
        };
        let origin = self
            .clients
            .get(&from.node_id)
            .map(|c| shared::profile::ChangeOrigin {
                client_id: c.client_id.to_string(),
                name: c.name.clone(),
            });
        let version = persons::apply_changes(&self.db, change, timing, origin.as_ref()).await?;
        self.deliveries.wake();
        if version.is_some() {
            let mut fields: Vec<&str> = change.changes.keys().map(|f| f.as_str()).collect();
            if change.language.is_some() {
                fields.push("language");
            }
            let name = origin.as_ref().map(|o| o.name.as_str());
            let actor = Actor::institution(from.node_id.as_str(), name, Some("sync"));
            let event = Event::new(kind::PROFILE_CHANGED, actor)
                .subject(account_subject(from))
                .at_institution(from.node_id.as_str())
                .detail(fields.join(","));
            self.audit.now(event).await?;
        }
        Ok(version)
    }

    pub async fn unlink(&self, from: &Link, node_id: &ClientId) -> anyhow::Result<bool> {
        self.unlink_by(from, node_id, Actor::of(ActorKind::Person))
            .await
    }

    /// As `unlink`, done by someone else than the person (an operator, in the console).
    pub async fn unlink_by(
        &self,
        from: &Link,
        node_id: &ClientId,
        actor: Actor,
    ) -> anyhow::Result<bool> {
        let at = self.clock.now_millis();
        let timing = Timing {
            at_millis: at,
            deadline_millis: self.deliveries.profile_deadline(at),
        };
        let removed = persons::unlink(&self.db, from, node_id, timing).await?;
        self.links_changed().await?;
        self.deliveries.wake();
        if removed {
            let event = Event::new(kind::UNLINK, actor)
                .subject(account_subject(from))
                .at_institution(from.node_id.as_str())
                .detail(format!("from {node_id}"));
            self.audit.now(event).await?;
        }
        Ok(removed)
    }
}

/// How an account is named as an audit event's subject at the IdP: `<institution>/<account>`.
pub fn account_subject(account: &Link) -> String {
    format!("{}/{}", account.node_id, account.sub)
}

/// The institutions linked to the account `sub` at `node_id`, itself left out, for the nav bar.
pub async fn institutions_of(
    db: &Database,
    clients: &Registry,
    node_id: &ClientId,
    sub: &AccountId,
) -> anyhow::Result<Vec<Institution>> {
    let me = Link {
        node_id: node_id.clone(),
        sub: sub.clone(),
    };
    let linked = persons::linked_accounts(db, &me).await?;
    Ok(linked
        .iter()
        .filter(|l| &l.node_id != node_id)
        .filter_map(|l| clients.get(&l.node_id))
        .filter_map(|c| {
            let base = c.federation_url.as_deref()?.trim_end_matches('/');
            Some(Institution {
                client_id: c.client_id.to_string(),
                name: c.name.clone(),
                logo_uri: c.logo_url.clone(),
                url: format!("{base}/sso/start"),
            })
        })
        .collect())
}

/// The newer account's values, with the older one's filling what the newer lacks. The names
/// match after normalisation; the better-written spelling stays.
fn merged(newer: &SharedProfile, older: &SharedProfile) -> SharedProfile {
    let mut out = newer.clone();
    out.first_name = better_spelling(&newer.first_name, &older.first_name).to_owned();
    out.last_name = better_spelling(&newer.last_name, &older.last_name).to_owned();
    for field in SharedProfile::FIELDS {
        if out.get(field).is_none() {
            // The value was valid in the older profile, so it fits.
            let _ = out.set(field, older.get(field));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{Email, PersonalCode, Phone};

    #[test]
    fn a_merge_keeps_the_newer_values_the_better_spelling_and_fills_gaps() {
        let newer = SharedProfile {
            first_name: "mari".into(),
            last_name: "MAASIKAS".into(),
            personal_code: None,
            email: Some(Email::parse("mari@new.ee").unwrap()),
            phone: None,
            address: None,
        };
        let older = SharedProfile {
            first_name: "Mari".into(),
            last_name: "Maasikas".into(),
            personal_code: Some(PersonalCode::parse("49403136515").unwrap()),
            email: Some(Email::parse("mari@old.ee").unwrap()),
            phone: Some(Phone::parse("+3725123456").unwrap()),
            address: Some("Tartu".into()),
        };
        let m = merged(&newer, &older);
        assert_eq!(
            (m.first_name.as_str(), m.last_name.as_str()),
            ("Mari", "Maasikas")
        );
        assert_eq!(m.email, newer.email, "the newer value stays");
        assert_eq!(m.personal_code, older.personal_code, "a gap is filled");
        assert_eq!(m.phone, older.phone);
        assert_eq!(m.address.as_deref(), Some("Tartu"));
    }
}
