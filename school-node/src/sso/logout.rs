//! Back-channel and front-channel logout (OIDC Back-Channel Logout 1.0, Front-Channel Logout 1.0):
//! checking a logout token completely and ending every session of an IdP `sid` (or `sub`) on
//! every instance of the node, through the shared session store.

use std::time::Duration;

use serde_json::Value;
use shared::ephemeral::Ephemeral;
use shared::federation::{BACKCHANNEL_LOGOUT_EVENT as EVENT, LOGOUT_JWT};
use shared::jwt::{Expect, check_claims};

use super::federation::FederationApi;

/// How old a logout token may be (its `iat`).
const MAX_AGE_SECONDS: i64 = 120;
/// Index entries outlive any session they point to.
const INDEX_TTL: Duration = Duration::from_secs(24 * 3600);

fn sid_key(sid: &str) -> String {
    format!("idp-sid:{sid}")
}

fn sub_key(sub: &str) -> String {
    format!("idp-sub:{sub}")
}

/// Remembers that a node session belongs to an IdP session and an account.
pub async fn index_session(
    store: &Ephemeral,
    session_id: &str,
    sid: Option<&str>,
    sub: &str,
) -> anyhow::Result<()> {
    if let Some(sid) = sid {
        store
            .add_to_set(&sid_key(sid), session_id, INDEX_TTL)
            .await?;
    }
    store.add_to_set(&sub_key(sub), session_id, INDEX_TTL).await
}

/// Ends every node session of an IdP session; returns how many were found.
pub async fn end_sessions_of_sid(store: &Ephemeral, sid: &str) -> anyhow::Result<usize> {
    end_indexed(store, &sid_key(sid), None).await
}

pub async fn end_sessions_of_sub(store: &Ephemeral, sub: &str) -> anyhow::Result<usize> {
    end_sessions_of_sub_but(store, sub, None).await
}

/// Ends every session of the account on every instance but `keep` (the one that set a new
/// password, say), which stays indexed.
pub async fn end_sessions_of_sub_but(
    store: &Ephemeral,
    sub: &str,
    keep: Option<&str>,
) -> anyhow::Result<usize> {
    end_indexed(store, &sub_key(sub), keep).await
}

/// Ends the sessions an index lists but `keep`, each before it leaves the index: the index is
/// the only way to find them, and a request cut off midway (the IdP gone, its connection
/// closed) must leave the rest to the logout the IdP sends again.
async fn end_indexed(store: &Ephemeral, index: &str, keep: Option<&str>) -> anyhow::Result<usize> {
    let mut ended = 0;
    for id in store.members(index).await? {
        if keep == Some(id.as_str()) {
            continue;
        }
        shared::session_store::end_session(store, &id).await?;
        store.remove_from_set(index, &id).await?;
        ended += 1;
    }
    Ok(ended)
}

/// What a valid logout token asks to end.
#[derive(Debug)]
pub struct LogoutRequest {
    pub sid: Option<String>,
    pub sub: Option<String>,
}

/// Checks a logout token: signature by the IdP's published keys, `typ`, iss, aud, iat window,
/// the back-channel event, sid or sub, no nonce, and a `jti` never seen before.
pub async fn validate(
    api: &FederationApi,
    replay: &Ephemeral,
    token: &str,
) -> Result<LogoutRequest, String> {
    let (header, claims) = api
        .idp_keys
        .verify(token)
        .await
        .map_err(|e| e.to_string())?;
    if header.token_type() != Some(LOGOUT_JWT) {
        return Err("typ is not logout+jwt".into());
    }
    let now = shared::jwt::now();
    let expect = Expect {
        issuer: &api.issuer,
        audience: &api.client_id,
        now,
        leeway: 30,
        allow_expired: false,
    };
    // A logout token need not carry exp; check_claims wants one, so judge iat alone then.
    let mut checked = claims.clone();
    checked.entry("exp").or_insert(Value::from(now + 60));
    check_claims(&checked, &expect).map_err(|e| e.to_string())?;
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or("no iat")?;
    if now - iat > MAX_AGE_SECONDS {
        return Err("the token is too old".into());
    }
    if !claims
        .get("events")
        .and_then(|e| e.get(EVENT))
        .is_some_and(Value::is_object)
    {
        return Err("the back-channel logout event is missing".into());
    }
    if claims.contains_key("nonce") {
        return Err("a logout token must not carry a nonce".into());
    }
    let sid = claims.get("sid").and_then(Value::as_str).map(str::to_owned);
    let sub = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
    if sid.is_none() && sub.is_none() {
        return Err("neither sid nor sub".into());
    }
    let jti = claims.get("jti").and_then(Value::as_str).ok_or("no jti")?;
    let fresh = replay
        .set_new(&format!("logout-jti:{jti}"), b"1", Duration::from_secs(600))
        .await
        .map_err(|e| e.to_string())?;
    if !fresh {
        return Err("the jti was seen before".into());
    }
    Ok(LogoutRequest { sid, sub })
}
