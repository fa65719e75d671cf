//! Linking an account to one at another institution, as a person does it (DESIGN §4.4):
//! choose the institution, sign in there, see how the personal data compare, confirm. Both
//! accounts must be proven in this IdP session; only what the session proved is ever linked.
//! The rules of links themselves are in `links`.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::ClientId;
use shared::ephemeral::Ephemeral;
use shared::profile::{Institution, ProfileField, SharedProfile};

use super::clients::{Client, Registry};
use super::links::{Links, Review};
use super::sessions::{IdpSession, Sessions};
use super::signin::{PendingLogins, Purpose};
use super::{is_token, random_token};
use crate::store::persons::{Link, Linked};

const REVIEW_MINUTES: u64 = 15;

fn review_key(id: &str) -> String {
    format!("link-review:{id}")
}

pub fn review_path(from: &ClientId, to: &ClientId) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "/link/review?from={}&to={}",
        enc(from.as_str()),
        enc(to.as_str())
    )
}

/// A comparison the person is looking at, until they confirm it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingReview {
    pub a: Link,
    pub b: Link,
    pub proposed: SharedProfile,
    pub profile_a: SharedProfile,
    pub profile_b: SharedProfile,
    pub choices: Vec<ProfileField>,
    /// The browser the comparison was shown in: only it may confirm.
    #[serde(default)]
    pub browser: String,
}

/// The person's choice for a field where the accounts differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    A,
    B,
}

/// Why a linking step cannot go on; each is a page with a way back.
#[derive(Debug)]
pub enum Stop {
    /// The session has not proven the account(s) this step needs.
    SignInFirst,
    /// The step was begun in another browser.
    OtherBrowser,
    NotAnInstitution,
    Expired,
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Internal(e)
    }
}

/// The institutions a person may choose from.
pub struct Choices {
    pub linked: Vec<Institution>,
    /// The institutions whose name holds what was searched for, by name, at most `SHOWN`.
    pub choices: Vec<Arc<Client>>,
    /// How many matched in all (more than are shown when the search is too wide).
    pub matched: usize,
}

/// At most this many institutions are listed at once; a search narrows a longer list.
pub const SHOWN: usize = 30;

/// A match, stored for confirming.
pub struct ReviewShown {
    pub id: String,
    pub review: PendingReview,
}

pub enum Reviewed {
    Match(Box<ReviewShown>),
    Other(Review),
}

#[derive(Clone)]
pub struct Linking {
    pub sessions: Sessions,
    pub links: Links,
    pub clients: Registry,
    pub pending: PendingLogins,
    pub store: Ephemeral,
}

impl Linking {
    async fn session(&self, cookie: Option<&str>) -> anyhow::Result<Option<IdpSession>> {
        match cookie {
            Some(c) => self.sessions.load(c).await,
            None => Ok(None),
        }
    }

    /// Whether `client_id` is a school node (a client for its own accounts with a federation API).
    pub fn is_node(&self, client_id: &str) -> bool {
        self.clients
            .get(client_id)
            .is_some_and(|c| c.node_id == c.client_id && c.federation_url.is_some())
    }

    /// Where the person goes back to at a node: its site, signed in afresh so the nav bar is new.
    pub fn back_url(&self, client_id: &str) -> Option<String> {
        let client = self.clients.get(client_id)?;
        let base = client.federation_url.as_deref()?.trim_end_matches('/');
        Some(format!("{base}/sso/start?next=/profile"))
    }

    /// Where a person goes after linking: the school they started at, which says it is done.
    pub fn linked_url(&self, client_id: &str) -> Option<String> {
        let client = self.clients.get(client_id)?;
        let base = client.federation_url.as_deref()?.trim_end_matches('/');
        Some(format!("{base}/sso/start?next=/profile%3Flinked%3D1"))
    }

    pub fn name_of(&self, client_id: &ClientId) -> String {
        self.clients
            .get(client_id)
            .map(|c| c.name.clone())
            .unwrap_or_default()
    }

    /// The institutions the account at `from` could be linked with.
    /// `search` is part of a name, in any case and with or without diacritics' forms.
    pub async fn choices(
        &self,
        cookie: Option<&str>,
        from: &ClientId,
        search: &str,
    ) -> Result<Choices, Stop> {
        let session = self.session(cookie).await?;
        let account = session
            .as_ref()
            .and_then(|s| s.accounts.get(from))
            .ok_or(Stop::SignInFirst)?;
        let linked = self.links.institutions(from, &account.sub).await?;
        let wanted = shared::names::normalize(search);
        let mut choices: Vec<Arc<Client>> = self
            .clients
            .all()
            .into_iter()
            .filter(|c| self.is_node(c.client_id.as_str()) && &c.client_id != from)
            .filter(|c| !linked.iter().any(|l| l.client_id == c.client_id.as_str()))
            .filter(|c| wanted.is_empty() || shared::names::normalize(&c.name).contains(&wanted))
            .collect();
        choices.sort_by(|a, b| a.name.cmp(&b.name));
        let matched = choices.len();
        choices.truncate(SHOWN);
        Ok(Choices {
            linked,
            choices,
            matched,
        })
    }

    /// The institution is chosen: sign in there, unless the session already proved an account.
    /// Returns where the browser goes.
    pub async fn start(
        &self,
        cookie: Option<&str>,
        from: &ClientId,
        to: &ClientId,
        lang: &str,
        browser: &str,
    ) -> Result<String, Stop> {
        if !self.is_node(to.as_str()) || from == to {
            return Err(Stop::NotAnInstitution);
        }
        let session = self.session(cookie).await?.ok_or(Stop::SignInFirst)?;
        if !session.accounts.contains_key(from) {
            return Err(Stop::SignInFirst);
        }
        if session
            .accounts
            .get(to)
            .is_some_and(|a| a.via_link.is_none())
        {
            return Ok(review_path(from, to));
        }
        let purpose = Purpose::Link {
            from: from.clone(),
            to: to.clone(),
            ui_locales: Some(lang.to_owned()),
        };
        Ok(self.pending.begin(purpose, browser).await?)
    }

    /// Compares the two accounts the session proved; a match is stored for confirming.
    pub async fn review(
        &self,
        cookie: Option<&str>,
        from: &ClientId,
        to: &ClientId,
        browser: &str,
    ) -> Result<Reviewed, Stop> {
        let session = self.session(cookie).await?.ok_or(Stop::SignInFirst)?;
        // The account to link must have been proven here, not merely opened through a link.
        let proven_b = session
            .accounts
            .get(to)
            .is_some_and(|a| a.via_link.is_none());
        let (Some(a), Some(b), true) = (link_in(&session, from), link_in(&session, to), proven_b)
        else {
            return Err(Stop::SignInFirst);
        };
        match self.links.review(&a, &b).await? {
            Review::Match {
                a: account_a,
                b: account_b,
                proposed,
                choices,
            } => {
                let review = PendingReview {
                    a,
                    b,
                    proposed,
                    profile_a: account_a.profile,
                    profile_b: account_b.profile,
                    choices,
                    browser: browser.to_owned(),
                };
                let id = random_token();
                self.store
                    .set(
                        &review_key(&id),
                        &serde_json::to_vec(&review).map_err(anyhow::Error::from)?,
                        Duration::from_secs(REVIEW_MINUTES * 60),
                    )
                    .await?;
                Ok(Reviewed::Match(Box::new(ReviewShown { id, review })))
            }
            other => Ok(Reviewed::Other(other)),
        }
    }

    /// The person confirmed review `id` with these choices: it is taken (once), the accounts
    /// must still be the session's, and they are linked.
    pub async fn confirm(
        &self,
        cookie: Option<&str>,
        id: &str,
        keep: &[(ProfileField, Keep)],
        browser: &str,
    ) -> Result<(Linked, ClientId), Stop> {
        if !is_token(id) {
            return Err(Stop::Expired);
        }
        let review: PendingReview = match self.store.take(&review_key(id)).await? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(anyhow::Error::from)?,
            None => return Err(Stop::Expired),
        };
        if review.browser.is_empty() || review.browser != browser {
            return Err(Stop::OtherBrowser);
        }
        let session = self.session(cookie).await?;
        let still = session.as_ref().is_some_and(|s| {
            link_in(s, &review.a.node_id).is_some_and(|l| l.sub == review.a.sub)
                && link_in(s, &review.b.node_id).is_some_and(|l| l.sub == review.b.sub)
        });
        if !still {
            return Err(Stop::SignInFirst);
        }
        let profile = chosen_profile(&review, keep);
        let linked = self.links.confirm(&review.a, &review.b, &profile).await?;
        Ok((linked, review.a.node_id))
    }
}

fn link_in(session: &IdpSession, node_id: &ClientId) -> Option<Link> {
    session.accounts.get(node_id).map(|a| Link {
        node_id: node_id.clone(),
        sub: a.sub.clone(),
    })
}

/// The proposed profile with the person's choices applied, where a choice was offered.
fn chosen_profile(review: &PendingReview, keep: &[(ProfileField, Keep)]) -> SharedProfile {
    let mut profile = review.proposed.clone();
    for (field, side) in keep {
        if !review.choices.contains(field) {
            continue;
        }
        let from = match side {
            Keep::A => &review.profile_a,
            Keep::B => &review.profile_b,
        };
        // Both values were valid in their own profile, so this cannot fail.
        let _ = profile.set(*field, from.get(*field));
    }
    profile
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{Email, Phone};

    fn review() -> PendingReview {
        let base = SharedProfile {
            first_name: "Anna".into(),
            last_name: "Kask".into(),
            ..Default::default()
        };
        let a = SharedProfile {
            email: Some(Email::parse("anna@a.ee").unwrap()),
            phone: Some(Phone::parse("+3725000001").unwrap()),
            ..base.clone()
        };
        let b = SharedProfile {
            email: Some(Email::parse("anna@b.ee").unwrap()),
            phone: Some(Phone::parse("+3725000002").unwrap()),
            ..base
        };
        PendingReview {
            a: Link {
                node_id: "a".into(),
                sub: "1".into(),
            },
            b: Link {
                node_id: "b".into(),
                sub: "2".into(),
            },
            proposed: b.clone(),
            profile_a: a,
            profile_b: b,
            choices: vec![ProfileField::Email],
            browser: "b".into(),
        }
    }

    #[test]
    fn only_offered_choices_change_the_proposal() {
        let r = review();
        let kept = chosen_profile(
            &r,
            &[
                (ProfileField::Email, Keep::A),
                (ProfileField::Phone, Keep::A),
            ],
        );
        assert_eq!(kept.email, r.profile_a.email, "the offered choice is taken");
        assert_eq!(
            kept.phone, r.proposed.phone,
            "a choice not offered is ignored"
        );
        assert_eq!(chosen_profile(&r, &[]), r.proposed);
    }
}
