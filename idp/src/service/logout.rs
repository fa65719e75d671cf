//! Ending IdP sessions and telling every institution in them (DESIGN §4.7): RP-initiated
//! logout, expiry found by the sweeper, and a school admin's "sign out everywhere". Each ended
//! session's participants get a back-channel logout from the durable outbox; the logout page
//! loads their front-channel frames. A failure to record the end is an error, never a silent
//! success: the session is removed only after its fan-out is queued.

use serde_json::Value;
use shared::{AccountId, ClientId, Sid};

use super::clients::Registry;
use super::delivery::Deliveries;
use super::keys::KeyRing;
use super::links::Links;
use super::sessions::{IdpSession, Sessions};
use crate::store::persons::Link;
use shared::audit::{Actor, ActorKind, Event, kind};

/// An RP-initiated logout request (RP-Initiated Logout 1.0 §2).
#[derive(Debug, Default)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub client_id: Option<String>,
}

/// What a logout ended, for the page.
#[derive(Debug, Default)]
pub struct LoggedOut {
    /// The institutions told.
    pub institutions: Vec<String>,
    /// Front-Channel Logout 1.0 frames: each participant's URI with `iss` and `sid`.
    pub frames: Vec<String>,
    /// The client's registered post-logout URI, when one was asked for.
    pub next: Option<String>,
    /// Whether the browser's session cookie is to be removed.
    pub ended: bool,
}

/// What an RP-initiated logout came to. No page may say "signed out" when nothing ended.
#[derive(Debug)]
pub enum Ending {
    /// The browser's IdP session ended and its institutions are being told.
    Ended(LoggedOut),
    /// The browser had no live IdP session: nothing ended (the client may be sent back, its
    /// person is signed out here already).
    NotSignedIn(LoggedOut),
    /// The browser has a live session the request does not vouch for (no hint, or a hint for
    /// another session: an earlier one, or someone else's): the person is asked first
    /// (RP-Initiated Logout 1.0 §2).
    AskFirst,
}

#[derive(Debug)]
pub enum LogoutError {
    /// Bad hint, unknown client or unregistered redirect URI.
    Invalid,
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for LogoutError {
    fn from(e: anyhow::Error) -> Self {
        LogoutError::Internal(e)
    }
}

#[derive(Clone)]
pub struct Logout {
    /// Audit events (the person's data tracker).
    pub audit: shared::audit::Recorder,
    pub sessions: Sessions,
    pub deliveries: Deliveries,
    pub clients: Registry,
    pub links: Links,
    pub keys: KeyRing,
    pub issuer: String,
    pub tokens: super::tokens::Tokens,
}

/// A logout request whose every part was checked.
#[derive(Debug)]
pub struct Checked {
    /// The claims of a valid `id_token_hint`: the client vouches that the person asked to go.
    pub hint: Option<shared::jwt::Claims>,
    /// The registered post-logout URI to return to.
    pub next: Option<String>,
    /// The client the hint was issued to, or the one named.
    pub client_id: Option<String>,
}

impl Logout {
    /// Checks the hint, the client and the post-logout URI, ending nothing.
    pub fn check(&self, request: &LogoutRequest) -> Result<Checked, LogoutError> {
        // The hint may have expired; its signature and issuer must still be ours.
        let hint = match request.id_token_hint.as_deref() {
            Some(token) => match self.keys.verify(token) {
                Ok((_, claims))
                    if claims.get("iss").and_then(Value::as_str) == Some(self.issuer.as_str()) =>
                {
                    Some(claims)
                }
                _ => return Err(LogoutError::Invalid),
            },
            None => None,
        };
        let hinted_client = hint
            .as_ref()
            .and_then(|c| c.get("aud"))
            .and_then(|a| match a {
                Value::String(s) => Some(s.clone()),
                Value::Array(v) => v.first().and_then(Value::as_str).map(str::to_owned),
                _ => None,
            });
        if let (Some(a), Some(b)) = (&hinted_client, &request.client_id)
            && a != b
        {
            return Err(LogoutError::Invalid);
        }
        let client_id = hinted_client.or(request.client_id.clone());
        let client = client_id.as_deref().and_then(|id| self.clients.get(id));
        let next = match (&request.post_logout_redirect_uri, &client) {
            (Some(uri), Some(client)) if client.allows_post_logout(uri) => Some(uri.clone()),
            (Some(_), _) => return Err(LogoutError::Invalid),
            (None, _) => None,
        };
        Ok(Checked {
            hint,
            next,
            client_id,
        })
    }

    /// Ends the session behind `cookie` when the request vouches for it: a hint for that very
    /// session (`sid`), or the person's press of the confirmation button.
    pub async fn end(
        &self,
        checked: Checked,
        cookie: Option<&str>,
        confirmed: bool,
    ) -> Result<Ending, LogoutError> {
        let Checked { hint, next, .. } = checked;
        let mut out = LoggedOut {
            next,
            ..LoggedOut::default()
        };
        let Some(cookie) = cookie else {
            return Ok(Ending::NotSignedIn(out));
        };
        let Some(session) = self.sessions.load(cookie).await? else {
            // A cookie whose session is gone: forget it, and say nothing ended.
            self.sessions.delete(cookie, None).await?;
            out.ended = true;
            return Ok(Ending::NotSignedIn(out));
        };
        let hinted_sid = hint
            .as_ref()
            .and_then(|c| c.get("sid"))
            .and_then(Value::as_str);
        if !confirmed && hinted_sid != Some(session.sid.as_str()) {
            return Ok(Ending::AskFirst);
        }
        out.institutions = self.deliveries.announce_logout(&session).await?;
        out.frames = self.front_channel_frames(&session);
        self.sessions.delete(cookie, Some(&session)).await?;
        self.record_end(&session, Actor::of(ActorKind::Person), "by_person")
            .await;
        out.ended = true;
        Ok(Ending::Ended(out))
    }

    /// The person ends one of their sessions from their own page (the browser it is in may be
    /// elsewhere): every institution in it is told, as at any sign-out.
    pub async fn end_from_my_page(&self, cookie: &str, session: &IdpSession) -> anyhow::Result<()> {
        self.deliveries.announce_logout(session).await?;
        self.sessions.delete(cookie, Some(session)).await?;
        self.record_end(
            session,
            Actor::of(ActorKind::Person),
            "by_person_from_my_data",
        )
        .await;
        Ok(())
    }

    /// The person signs out of one institution only: its clients are told (back-channel), its
    /// account leaves the session, and the session goes on with the others. (A later visit
    /// there signs in again through the session, as a nav-bar jump does.)
    pub async fn leave_institution(
        &self,
        cookie: &str,
        mut session: IdpSession,
        node_id: &ClientId,
    ) -> anyhow::Result<()> {
        self.deliveries
            .announce_logout_to(&session, |c| &c.node_id == node_id)
            .await?;
        let Some(account) = session.accounts.remove(node_id) else {
            return Ok(());
        };
        session.participants.retain(|id| {
            self.clients
                .get_even_disabled(id)
                .is_none_or(|c| &c.node_id != node_id)
        });
        session.nav.remove(node_id);
        self.sessions.save(cookie, &session).await?;
        let event = Event::new(kind::SIGNOUT, Actor::of(ActorKind::Person))
            .subject(format!("{node_id}/{}", account.sub))
            .at_institution(node_id.as_str())
            .detail(format!("this_institution; sid {}", session.sid.as_str()));
        self.audit.soon(event).await;
        Ok(())
    }

    /// An operator disabled an institution (client `id`, or the school whose applications
    /// name it as their node): in every live session it is in, its clients are told
    /// (back-channel) and its account leaves; the session goes on with the others. Returns how
    /// many sessions it was in.
    pub async fn end_institution(&self, id: &ClientId, actor: Actor) -> anyhow::Result<usize> {
        let touches = |c: &super::clients::Client| &c.client_id == id || &c.node_id == id;
        let involved = |client_id: &ClientId| {
            self.clients
                .get_even_disabled(client_id)
                .is_some_and(|c| touches(&c))
        };
        let mut ended = 0;
        for (cookie, mut session) in self.sessions.live().await? {
            if !session.accounts.contains_key(id) && !session.participants.iter().any(involved) {
                continue;
            }
            self.deliveries
                .announce_logout_to(&session, |c| touches(c))
                .await?;
            session.participants.retain(|p| !involved(p));
            if let Some(account) = session.accounts.remove(id) {
                let event = Event::new(kind::SIGNOUT, actor.clone())
                    .subject(format!("{id}/{}", account.sub))
                    .at_institution(id.as_str())
                    .detail(format!(
                        "institution_disabled; sid {}",
                        session.sid.as_str()
                    ));
                self.audit.soon(event).await;
            }
            session.nav.remove(id);
            self.sessions.save(&cookie, &session).await?;
            ended += 1;
        }
        self.links.links_changed().await?;
        Ok(ended)
    }

    /// A sign-out in the activity of every account the session held.
    async fn record_end(&self, session: &IdpSession, actor: Actor, reason: &str) {
        for (node_id, account) in &session.accounts {
            let event = Event::new(kind::SIGNOUT, actor.clone())
                .subject(format!("{node_id}/{}", account.sub))
                .at_institution(node_id.as_str())
                .detail(format!("{reason}; sid {}", session.sid.as_str()));
            self.audit.soon(event).await;
        }
    }

    fn front_channel_frames(&self, session: &IdpSession) -> Vec<String> {
        session
            .participants
            .iter()
            .filter_map(|id| {
                self.clients
                    .get_even_disabled(id)?
                    .frontchannel_logout_uri
                    .clone()
            })
            .filter_map(|uri| frame_url(&uri, &self.issuer, &session.sid))
            .collect()
    }

    /// Announces the end of each session that expired since the last sweep, then removes it;
    /// returns how many ended. One whose end cannot be queued stays, an error this round and
    /// found again by the next.
    pub async fn sweep_expired(&self) -> anyhow::Result<usize> {
        let (unswept, expired) = self.sessions.expired().await?;
        let (mut ended, mut failed) = (0, 0);
        for (cookie, session) in &expired {
            if !self.sessions.claim_expired(cookie).await? {
                continue;
            }
            match self.deliveries.announce_logout(session).await {
                Ok(_) => {
                    self.sessions.delete(cookie, Some(session)).await?;
                    self.record_end(session, Actor::system(), "expired").await;
                    ended += 1;
                }
                Err(e) => {
                    tracing::error!(sid = %session.sid, error = %format!("{e:#}"), "the end of an expired session could not be queued");
                    self.sessions.release_expired(cookie).await?;
                    failed += 1;
                }
            }
        }
        self.sessions.swept(unswept).await?;
        metrics::gauge!("idp_sessions_active").set(self.sessions.active_count().await? as f64);
        anyhow::ensure!(
            failed == 0,
            "{failed} of {} expired sessions could not be announced; the next sweep tries again",
            expired.len()
        );
        Ok(ended)
    }

    /// Ends every IdP session in which this account or one linked to it was signed in by
    /// `made_at` (when the node's admin asked), announces each end to its clients, and revokes
    /// those accounts' grants from then; returns how many sessions ended. A later sign-in is
    /// not what was asked about: a message that waited in the node's outbox leaves it alone.
    pub async fn sign_out_everywhere(
        &self,
        node_id: &ClientId,
        sub: &AccountId,
        made_at: i64,
    ) -> anyhow::Result<usize> {
        self.everywhere(node_id, sub, made_at, None).await
    }

    /// As `sign_out_everywhere`, asked by an operator in the console.
    pub async fn sign_out_everywhere_by(
        &self,
        node_id: &ClientId,
        sub: &AccountId,
        made_at: i64,
        by: Actor,
    ) -> anyhow::Result<usize> {
        self.everywhere(node_id, sub, made_at, Some(by)).await
    }

    async fn everywhere(
        &self,
        node_id: &ClientId,
        sub: &AccountId,
        made_at: i64,
        by: Option<Actor>,
    ) -> anyhow::Result<usize> {
        let from = Link {
            node_id: node_id.clone(),
            sub: sub.clone(),
        };
        let mut accounts = self.links.linked_accounts(&from).await?;
        if accounts.is_empty() {
            accounts.push(from);
        }
        let mut ended = 0;
        for account in accounts {
            ended += self
                .end_and_announce(
                    &account.node_id,
                    &account.sub,
                    None,
                    made_at,
                    "everywhere",
                    by.clone(),
                )
                .await?;
        }
        Ok(ended)
    }

    /// A new password was set for an account at `made_at`: every IdP session that held it by
    /// then ends, but `keep` (the person who set it), each end announced as any sign-out, and
    /// the account's grants from before it are revoked.
    pub async fn password_changed(
        &self,
        node_id: &ClientId,
        sub: &AccountId,
        keep: Option<&Sid>,
        made_at: i64,
    ) -> anyhow::Result<usize> {
        self.end_and_announce(node_id, sub, keep, made_at, "new_password", None)
            .await
    }

    /// Ends the account's sessions authenticated by `made_at` but `keep`, and revokes its
    /// grants likewise. Each end is queued before the session goes: cut off between the two,
    /// the node's request sent again finds the session and queues it again (a school takes a
    /// second logout as a no-op), never none.
    async fn end_and_announce(
        &self,
        node_id: &ClientId,
        sub: &AccountId,
        keep: Option<&Sid>,
        made_at: i64,
        reason: &str,
        by: Option<Actor>,
    ) -> anyhow::Result<usize> {
        let clients: Vec<String> = self
            .clients
            .all()
            .iter()
            .filter(|c| &c.node_id == node_id)
            .map(|c| c.client_id.to_string())
            .collect();
        self.tokens
            .revoke_account(&clients, sub.as_str(), made_at, keep)
            .await?;
        let mut ended = 0;
        for (cookie, session) in self.sessions.sessions_of(node_id, sub).await? {
            let signed_in_at = session.accounts.get(node_id).map(|a| a.auth_time);
            if keep == Some(&session.sid) || signed_in_at.is_some_and(|at| at > made_at) {
                continue;
            }
            self.deliveries.announce_logout(&session).await?;
            self.sessions
                .end_filed(&cookie, &session, node_id, sub)
                .await?;
            // Asked by the account's school (its admin, a closed account, a new password), or
            // by an operator.
            let name = self.clients.get(node_id).map(|c| c.name.clone());
            let actor = by
                .clone()
                .unwrap_or_else(|| Actor::institution(node_id.as_str(), name.as_deref(), None));
            self.record_end(&session, actor, reason).await;
            ended += 1;
        }
        Ok(ended)
    }
}

fn frame_url(uri: &str, issuer: &str, sid: &Sid) -> Option<String> {
    let mut url = url::Url::parse(uri).ok()?;
    url.query_pairs_mut()
        .append_pair("iss", issuer)
        .append_pair("sid", sid.as_str());
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_carries_iss_and_sid_after_the_clients_own_query() {
        let url = frame_url(
            "https://jpk.example.ee/fc?x=1",
            "https://idp",
            &Sid::from("s 1"),
        )
        .unwrap();
        assert_eq!(
            url,
            "https://jpk.example.ee/fc?x=1&iss=https%3A%2F%2Fidp&sid=s+1"
        );
        assert!(frame_url("not a url", "https://idp", &Sid::from("s")).is_none());
    }
}
