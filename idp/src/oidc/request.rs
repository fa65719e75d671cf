//! Checking an authorization request (OIDC Core §3.1.2). The client and redirect URI are
//! checked first: until both are known good, errors are shown, never redirected.

use serde::{Deserialize, Serialize};

use shared::ClientId;

use super::pkce;

/// The request as sent, by GET query or POST form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawAuthorize {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_type: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub code_challenge_method: String,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub response_mode: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    pub ui_locales: Option<String>,
    pub login_hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    Default,
    None,
    Login,
}

/// A request whose every part was checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: ClientId,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub ui_locales: Option<String>,
    pub login_hint: Option<String>,
}

/// An error to send back to the (already validated) redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectError {
    pub error: &'static str,
    pub description: &'static str,
}

const fn redirect_error(error: &'static str, description: &'static str) -> RedirectError {
    RedirectError { error, description }
}

/// Checks everything after the client and redirect URI.
pub fn check(raw: &RawAuthorize) -> Result<AuthorizeRequest, RedirectError> {
    let texts = [
        Some(&raw.scope),
        raw.state.as_ref(),
        raw.nonce.as_ref(),
        Some(&raw.code_challenge),
        raw.ui_locales.as_ref(),
        raw.login_hint.as_ref(),
        raw.max_age.as_ref(),
        raw.prompt.as_ref(),
    ];
    if texts
        .into_iter()
        .flatten()
        .any(|t| t.chars().any(char::is_control))
    {
        return Err(redirect_error(
            "invalid_request",
            "a parameter holds a control character",
        ));
    }
    if raw.request.is_some() {
        return Err(redirect_error(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if raw.request_uri.is_some() {
        return Err(redirect_error(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    if raw.response_type != "code" {
        return Err(redirect_error(
            "unsupported_response_type",
            "only the code flow is supported",
        ));
    }
    if raw.response_mode.as_deref().is_some_and(|m| m != "query") {
        return Err(redirect_error(
            "invalid_request",
            "only response_mode=query is supported",
        ));
    }
    let scopes: Vec<&str> = raw.scope.split_whitespace().collect();
    if !scopes.contains(&"openid") {
        return Err(redirect_error(
            "invalid_scope",
            "the openid scope is required",
        ));
    }
    if raw.code_challenge.is_empty() {
        return Err(redirect_error(
            "invalid_request",
            "PKCE is required: send code_challenge with S256",
        ));
    }
    if raw.code_challenge_method != "S256" {
        return Err(redirect_error(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if !pkce::valid_challenge(&raw.code_challenge) {
        return Err(redirect_error(
            "invalid_request",
            "code_challenge is malformed",
        ));
    }
    let prompt = match raw.prompt.as_deref().map(str::trim) {
        None | Some("") | Some("consent") | Some("select_account") => Prompt::Default,
        Some("none") => Prompt::None,
        Some("login") => Prompt::Login,
        Some(p) if p.split_whitespace().any(|v| v == "none") => {
            return Err(redirect_error(
                "invalid_request",
                "prompt=none cannot be combined with other values",
            ));
        }
        Some(p) if p.split_whitespace().any(|v| v == "login") => Prompt::Login,
        Some(_) => return Err(redirect_error("invalid_request", "unknown prompt value")),
    };
    let max_age = match raw.max_age.as_deref() {
        None | Some("") => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or(redirect_error(
                    "invalid_request",
                    "max_age must be a number of seconds",
                ))?,
        ),
    };
    let mut kept: Vec<&str> = Vec::new();
    for s in scopes {
        if !kept.contains(&s) {
            kept.push(s);
        }
    }
    Ok(AuthorizeRequest {
        client_id: raw.client_id.as_str().into(),
        redirect_uri: raw.redirect_uri.clone(),
        scope: kept.join(" "),
        state: raw.state.clone(),
        nonce: raw.nonce.clone(),
        code_challenge: raw.code_challenge.clone(),
        prompt,
        max_age,
        ui_locales: raw.ui_locales.clone(),
        login_hint: raw.login_hint.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> RawAuthorize {
        RawAuthorize {
            client_id: "jpk".into(),
            redirect_uri: "http://jpk/cb".into(),
            response_type: "code".into(),
            scope: "openid profile openid".into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            code_challenge_method: "S256".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_request_passes() {
        let r = check(&good()).unwrap();
        assert_eq!(r.scope, "openid profile");
        assert_eq!(r.prompt, Prompt::Default);
    }

    #[test]
    fn a_control_character_in_any_parameter_is_refused() {
        for raw in [
            RawAuthorize {
                state: Some("s\0".into()),
                ..good()
            },
            RawAuthorize {
                nonce: Some("\u{1}".into()),
                ..good()
            },
            RawAuthorize {
                scope: "openid\0 offline_access".into(),
                ..good()
            },
            RawAuthorize {
                login_hint: Some("mari\0".into()),
                ..good()
            },
        ] {
            assert_eq!(check(&raw).unwrap_err().error, "invalid_request");
        }
    }

    #[test]
    fn each_rule_has_its_error() {
        let cases: Vec<(RawAuthorize, &str)> = vec![
            (
                RawAuthorize {
                    response_type: "token".into(),
                    ..good()
                },
                "unsupported_response_type",
            ),
            (
                RawAuthorize {
                    response_type: "code id_token".into(),
                    ..good()
                },
                "unsupported_response_type",
            ),
            (
                RawAuthorize {
                    scope: "profile".into(),
                    ..good()
                },
                "invalid_scope",
            ),
            (
                RawAuthorize {
                    code_challenge: String::new(),
                    ..good()
                },
                "invalid_request",
            ),
            (
                RawAuthorize {
                    code_challenge_method: "plain".into(),
                    ..good()
                },
                "invalid_request",
            ),
            (
                RawAuthorize {
                    prompt: Some("none login".into()),
                    ..good()
                },
                "invalid_request",
            ),
            (
                RawAuthorize {
                    max_age: Some("-1".into()),
                    ..good()
                },
                "invalid_request",
            ),
            (
                RawAuthorize {
                    request: Some("x".into()),
                    ..good()
                },
                "request_not_supported",
            ),
        ];
        for (raw, error) in cases {
            assert_eq!(check(&raw).unwrap_err().error, error, "{raw:?}");
        }
        assert_eq!(
            check(&RawAuthorize {
                prompt: Some("login".into()),
                ..good()
            })
            .unwrap()
            .prompt,
            Prompt::Login
        );
        assert_eq!(
            check(&RawAuthorize {
                max_age: Some("0".into()),
                ..good()
            })
            .unwrap()
            .max_age,
            Some(0)
        );
    }
}
