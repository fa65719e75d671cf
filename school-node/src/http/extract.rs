//! Request extractors: the page context (language, session, signed-in account), the guards for
//! signed-in people and admins, the client address, and forms whose CSRF token was checked.

use std::net::IpAddr;

use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use super::render::Base;
use crate::error::{AppError, ErrorKind, PageResult};
use crate::i18n::{Locale, Texts};
use crate::service::accounts::{self, Account};
use crate::state::AppState;
use crate::store::accounts::Role;

pub const SESSION_ACCOUNT: &str = "account";
const SESSION_CSRF: &str = "csrf";
const SESSION_FLASH: &str = "flash";

/// Everything a page handler needs to know about the request it answers.
pub struct Ctx {
    pub state: AppState,
    pub session: Session,
    pub locale: Locale,
    pub user: Option<Account>,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| AppError::internal("the session layer is missing"))?;
        let locale = Locale::resolve(&parts.headers);
        let user = match session.get::<String>(SESSION_ACCOUNT).await? {
            Some(id) => match accounts::find(&state.db, &id).await? {
                Some(account) if !account.disabled => Some(account),
                // Deleted or closed since sign-in: the session no longer stands for anyone.
                _ => {
                    session.flush().await?;
                    None
                }
            },
            None => None,
        };
        Ok(Ctx {
            state: state.clone(),
            session,
            locale,
            user,
        })
    }
}

impl Ctx {
    pub fn t(&self) -> &'static Texts {
        self.locale.texts()
    }

    /// The session's CSRF token, made on first use.
    pub async fn csrf(&self) -> PageResult<String> {
        if let Some(token) = self.session.get::<String>(SESSION_CSRF).await? {
            return Ok(token);
        }
        let bytes: [u8; 32] = rand::rng().random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.session.insert(SESSION_CSRF, &token).await?;
        Ok(token)
    }

    pub async fn base(&self) -> PageResult<Base> {
        let csrf = if self.user.is_some() {
            self.csrf().await?
        } else {
            String::new()
        };
        Ok(Base {
            logo: self.state.logo.is_some(),
            t: self.t(),
            institution: self.state.config.institution_name.clone(),
            user_name: self.user.as_ref().map(Account::full_name),
            is_admin: self.user.as_ref().is_some_and(|u| u.has_role(Role::Admin)),
            csrf,
            flash: self.session.remove::<String>(SESSION_FLASH).await?,
            institutions: if self.user.is_some() {
                self.institutions().await?
            } else {
                Vec::new()
            },
            my_data_url: self.user.as_ref().and(self.my_data_url()),
        })
    }

    /// "Minu andmed" at the IdP, in this page's language, when single sign-on is on.
    pub fn my_data_url(&self) -> Option<String> {
        self.state.sso.as_ref().map(|_| {
            let issuer = self.state.config.sso.issuer.trim_end_matches('/');
            format!("{issuer}/me?ui_locales={}", self.locale.code())
        })
    }

    /// The signed-in account's linked institutions: the shared list the IdP keeps current,
    /// or what this session was given at sign-in.
    pub async fn institutions(&self) -> PageResult<crate::sso::client::Institutions> {
        if let Some(user) = &self.user
            && let Some(list) = crate::sso::nav::get(&self.state.ephemeral, &user.id).await?
        {
            return Ok(list);
        }
        Ok(self
            .session
            .get(crate::http::sso::SESSION_INSTITUTIONS)
            .await?
            .unwrap_or_default())
    }

    pub async fn flash(&self, message: &str) -> PageResult<()> {
        Ok(self.session.insert(SESSION_FLASH, message).await?)
    }

    /// Starts an authenticated session under a new id, so a planted id is worth nothing.
    pub async fn sign_in(&self, account_id: &str) -> PageResult<()> {
        self.session.cycle_id().await?;
        self.session.insert(SESSION_ACCOUNT, account_id).await?;
        self.session.remove::<String>(SESSION_CSRF).await?;
        // Filed under the account, so a new password can end it on every instance.
        self.session.save().await?;
        if let Some(id) = self.session.id() {
            crate::sso::logout::index_session(
                &self.state.ephemeral,
                &id.to_string(),
                None,
                account_id,
            )
            .await?;
        }
        Ok(())
    }

    /// A new password was set for `account_id`: its other sessions end here (on every
    /// instance) and at the IdP, which tells the other institutions. With `keep_own`, the
    /// session of the person who set it (this one) stays.
    pub async fn password_changed(&self, account_id: &str, keep_own: bool) -> PageResult<()> {
        let (keep_session, keep_sid) = if keep_own {
            (
                self.session.id().map(|id| id.to_string()),
                self.session
                    .get::<String>(crate::http::sso::SESSION_IDP_SID)
                    .await?,
            )
        } else {
            (None, None)
        };
        self.state
            .sign_outs()
            .password_changed(account_id, keep_session.as_deref(), keep_sid)
            .await?;
        Ok(())
    }
}

/// A signed-in person whose password is not temporary.
pub struct SignedIn {
    pub ctx: Ctx,
    pub account: Account,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(account) = ctx.user.clone() else {
            // Nested routers see a shortened URI; the original one is where to come back to.
            let uri = parts
                .extensions
                .get::<OriginalUri>()
                .map_or(&parts.uri, |o| &o.0);
            let next = uri.path_and_query().map_or("/", |p| p.as_str());
            let target = format!("/login?next={}", encode_component(next));
            return Err(Redirect::to(&target).into_response());
        };
        if account.must_change_password {
            return Err(Redirect::to("/password").into_response());
        }
        Ok(SignedIn { ctx, account })
    }
}

/// A signed-in administrator of this institution.
pub struct Admin(pub SignedIn);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        if !signed_in.account.has_role(Role::Admin) {
            return Err(AppError::new(ErrorKind::Forbidden).into_response());
        }
        Ok(Admin(signed_in))
    }
}

/// The address a request came from; behind a trusted proxy, the last `X-Forwarded-For` entry.
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        shared::http::client_addr(parts, state.config.trust_forwarded_for)
            .map(ClientAddr)
            .ok_or_else(|| AppError::internal("the server was started without connection info"))
    }
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Compares a submitted token with the session's, in constant time.
pub async fn check_csrf(session: &Session, submitted: &str) -> Result<(), AppError> {
    let expected = session
        .get::<String>(SESSION_CSRF)
        .await?
        .unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(submitted.as_bytes())) {
        return Err(AppError::new(ErrorKind::Csrf));
    }
    Ok(())
}

/// A url-encoded form whose `csrf` field matched the session's token.
pub struct VerifiedForm<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for VerifiedForm<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = req
            .extensions()
            .get::<Session>()
            .cloned()
            .ok_or_else(|| AppError::internal("the session layer is missing"))?;
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                let kind = ErrorKind::from_status(rejection.status());
                AppError {
                    kind,
                    cause: Some(rejection.body_text()),
                }
            })?;
        let CsrfField { csrf } = serde_html_form::from_bytes(&bytes)
            .map_err(|_| AppError::new(ErrorKind::BadRequest))?;
        refuse_control_characters(&bytes)?;
        check_csrf(&session, &csrf).await?;
        let form = serde_html_form::from_bytes(&bytes).map_err(|e| AppError {
            kind: ErrorKind::BadRequest,
            cause: Some(e.to_string()),
        })?;
        Ok(VerifiedForm(form))
    }
}

/// Refuses a form any of whose values holds a control character no field accepts, before
/// anything of it reaches a store.
pub fn refuse_control_characters(body: &[u8]) -> Result<(), AppError> {
    let fields: Vec<(String, String)> =
        serde_html_form::from_bytes(body).map_err(|_| AppError::new(ErrorKind::BadRequest))?;
    if fields.iter().any(|(k, v)| {
        shared::names::has_forbidden_control(k) || shared::names::has_forbidden_control(v)
    }) {
        return Err(AppError::new(ErrorKind::ControlCharacters));
    }
    Ok(())
}

/// Percent-encodes a query component.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub use shared::http::local_path;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_follow_sign_in() {
        assert_eq!(local_path("/profile?x=1"), "/profile?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "profile",
            "/a\nb",
        ] {
            assert_eq!(local_path(bad), "/", "{bad}");
        }
        assert_eq!(
            encode_component("/children/a b?x=ü"),
            "/children/a%20b%3Fx%3D%C3%BC"
        );
    }
}
