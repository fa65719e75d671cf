//! A test eID broker for the local federation: an OpenID Provider that behaves like the test
//! environment of the state's TARA. It lists a few test persons with valid personal codes and
//! "identifies" whichever is picked (no real ID-card or Smart-ID), answering as TARA does:
//! code flow with client_secret_basic, RS256 ID tokens with `sub` "EE" + personal code, names and
//! birth date under `profile_attributes`, `amr` by the scope asked (idcard, smartid, mID), `acr`
//! "high", codes for 30 s and ID tokens for 40 s, no session and no logout. For tests it can be
//! told to answer wrongly in one way at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::jwt::{Alg, SigningKey};

/// A person the broker can identify.
#[derive(Debug, Clone)]
pub struct TestPerson {
    pub personal_code: &'static str,
    pub given_name: &'static str,
    pub family_name: &'static str,
    pub date_of_birth: &'static str,
}

/// The test persons: three with accounts in the demo (Juku without a password) and one with
/// none anywhere.
pub const PERSONS: [TestPerson; 4] = [
    TestPerson {
        personal_code: "49403136515",
        given_name: "MARI",
        family_name: "MAASIKAS",
        date_of_birth: "1994-03-13",
    },
    TestPerson {
        personal_code: "37605030299",
        given_name: "JAAN",
        family_name: "TAMM",
        date_of_birth: "1976-05-03",
    },
    TestPerson {
        personal_code: "50001010006",
        given_name: "JUKU",
        family_name: "TAMM",
        date_of_birth: "2000-01-01",
    },
    TestPerson {
        personal_code: "39207070221",
        given_name: "TÕNU",
        family_name: "TUNDMATU",
        date_of_birth: "1992-07-07",
    },
];

/// One way to answer wrongly, for the tests of the IdP's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tamper {
    WrongIssuer,
    WrongAudience,
    WrongNonce,
    BadSignature,
    Expired,
    NoSub,
    InvalidPersonalCode,
    Amr(String),
    Acr(String),
    /// The authorization response leaves out `iss`, which the metadata promises (RFC 9207).
    NoIssInResponse,
}

#[derive(Debug, Clone)]
struct Request {
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: String,
    code_challenge: Option<String>,
    method: &'static str,
}

#[derive(Debug, Clone)]
struct Grant {
    request: Request,
    person: TestPerson,
    issued_at: i64,
}

pub struct BrokerState {
    issuer: String,
    client_id: String,
    client_secret: String,
    key: SigningKey,
    /// Signs nothing real: a key the broker never publishes, for `Tamper::BadSignature`.
    wrong_key: SigningKey,
    requests: Mutex<HashMap<String, Request>>,
    grants: Mutex<HashMap<String, Grant>>,
    tamper: Mutex<Option<Tamper>>,
    /// The `ui_locales` of the last authorization request (TARA shows et, en or ru).
    ui_locales: Mutex<Option<String>>,
}

/// A handle on a running broker.
#[derive(Clone)]
pub struct Broker(Arc<BrokerState>);

impl Broker {
    pub fn new(issuer: &str, client_id: &str, client_secret: &str) -> anyhow::Result<Broker> {
        let (key, _) = SigningKey::generate(Alg::RS256)?;
        let (wrong, pem) = SigningKey::generate(Alg::RS256)?;
        // Same kid as the real key, so only the signature gives it away.
        let wrong_key = SigningKey::from_pem(&key.kid, Alg::RS256, &pem).unwrap_or(wrong);
        Ok(Broker(Arc::new(BrokerState {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            key,
            wrong_key,
            requests: Mutex::default(),
            grants: Mutex::default(),
            tamper: Mutex::default(),
            ui_locales: Mutex::default(),
        })))
    }

    /// The client secret the IdP authenticates with.
    pub fn secret(&self) -> &str {
        &self.0.client_secret
    }

    /// The language the last authorization request asked the broker's page in.
    pub fn last_ui_locales(&self) -> Option<String> {
        self.0
            .ui_locales
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Makes every following answer wrong in this way (None: right again).
    pub fn tamper(&self, tamper: Option<Tamper>) {
        *self.0.tamper.lock().unwrap_or_else(|p| p.into_inner()) = tamper;
    }

    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            // Where TARA publishes it: apart from its issuer.
            .route("/oidc/.well-known/openid-configuration", get(discovery))
            .route("/oidc/jwks", get(jwks))
            .route("/oidc/authorize", get(authorize).post(choose))
            .route("/oidc/token", post(token))
            .with_state(self.0.clone())
    }
}

type Shared = State<Arc<BrokerState>>;

async fn discovery(State(b): Shared) -> Json<Value> {
    Json(json!({
        "issuer": b.issuer,
        "authorization_endpoint": format!("{}/oidc/authorize", b.issuer),
        "token_endpoint": format!("{}/oidc/token", b.issuer),
        "jwks_uri": format!("{}/oidc/jwks", b.issuer),
        "scopes_supported": ["openid", "idcard", "mid", "smartid", "eidas"],
        "response_types_supported": ["code"],
        "authorization_response_iss_parameter_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "grant_types_supported": ["authorization_code"],
        "claims_supported": ["sub", "profile_attributes", "amr", "acr", "state", "nonce"],
    }))
}

async fn jwks(State(b): Shared) -> Json<Value> {
    Json(json!({ "keys": [Value::Object(b.key.public_jwk().as_ref().clone())] }))
}

fn random() -> String {
    use rand::RngExt;
    let bytes: [u8; 24] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: String,
    nonce: String,
    code_challenge: Option<String>,
    ui_locales: Option<String>,
}

async fn authorize(State(b): Shared, Query(q): Query<AuthorizeQuery>) -> Response {
    if q.client_id != b.client_id || q.response_type != "code" || q.redirect_uri.is_empty() {
        return (StatusCode::BAD_REQUEST, "invalid_request").into_response();
    }
    if q.state.is_empty() {
        return (StatusCode::BAD_REQUEST, "state is required").into_response();
    }
    *b.ui_locales.lock().unwrap_or_else(|p| p.into_inner()) = q.ui_locales.clone();
    let scopes: Vec<&str> = q.scope.split_whitespace().collect();
    let method = if scopes.contains(&"smartid") {
        "smartid"
    } else if scopes.contains(&"mid") {
        "mID"
    } else {
        "idcard"
    };
    let id = random();
    b.requests.lock().unwrap_or_else(|p| p.into_inner()).insert(
        id.clone(),
        Request {
            client_id: q.client_id,
            redirect_uri: q.redirect_uri,
            state: q.state,
            nonce: q.nonce,
            code_challenge: q.code_challenge,
            method,
        },
    );
    let people: String = PERSONS
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "<li><form method=\"post\"><input type=\"hidden\" name=\"request\" value=\"{id}\">\
                 <input type=\"hidden\" name=\"person\" value=\"{i}\"><button type=\"submit\" data-code=\"{code}\">\
                 {} {} ({code})</button></form></li>",
                escape(p.given_name),
                escape(p.family_name),
                code = p.personal_code,
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html lang=\"et\"><meta charset=\"utf-8\"><title>Testtuvastus ({method})</title>\
         <h1>Testtuvastus: {method}</h1><p>Vali testisik (päris ID-kaarti ega Smart-IDd ei kasutata).</p>\
         <ul>{people}</ul><form method=\"post\"><input type=\"hidden\" name=\"request\" value=\"{id}\">\
         <input type=\"hidden\" name=\"cancel\" value=\"1\"><button type=\"submit\">Katkesta</button></form>"
    ))
    .into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Choice {
    request: String,
    person: usize,
    cancel: Option<String>,
}

/// The authorization response: the parameters, `state`, and `iss` (RFC 9207) unless tampered.
fn back_to(b: &BrokerState, request: &Request, params: &[(&str, &str)]) -> Response {
    let mut url = match reqwest::Url::parse(&request.redirect_uri) {
        Ok(u) => u,
        Err(_) => return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response(),
    };
    let leave_out_iss =
        *b.tamper.lock().unwrap_or_else(|p| p.into_inner()) == Some(Tamper::NoIssInResponse);
    url.query_pairs_mut()
        .extend_pairs(params)
        .append_pair("state", &request.state);
    if !leave_out_iss {
        url.query_pairs_mut().append_pair("iss", &b.issuer);
    }
    Redirect::to(url.as_str()).into_response()
}

async fn choose(State(b): Shared, Form(choice): Form<Choice>) -> Response {
    let request = b
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&choice.request);
    let Some(request) = request else {
        return (StatusCode::BAD_REQUEST, "unknown request").into_response();
    };
    if choice.cancel.is_some() {
        return back_to(
            &b,
            &request,
            &[("error", "user_cancel"), ("error_description", "cancelled")],
        );
    }
    let Some(person) = PERSONS.get(choice.person).cloned() else {
        return (StatusCode::BAD_REQUEST, "unknown person").into_response();
    };
    let code = random();
    b.grants.lock().unwrap_or_else(|p| p.into_inner()).insert(
        code.clone(),
        Grant {
            request: request.clone(),
            person,
            issued_at: shared::jwt::now(),
        },
    );
    back_to(&b, &request, &[("code", &code)])
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: Option<String>,
}

fn client_authenticated(b: &BrokerState, headers: &HeaderMap) -> bool {
    use base64::Engine;
    let Some(basic) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic) else {
        return false;
    };
    let text = String::from_utf8_lossy(&decoded);
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    match text.split_once(':') {
        Some((id, secret)) => decode(id) == b.client_id && decode(secret) == b.client_secret,
        None => false,
    }
}

fn oauth_error(code: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": code }))).into_response()
}

async fn token(State(b): Shared, headers: HeaderMap, Form(form): Form<TokenForm>) -> Response {
    if !client_authenticated(&b, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    if form.grant_type != "authorization_code" {
        return oauth_error("unsupported_grant_type");
    }
    let grant = b
        .grants
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&form.code);
    let now = shared::jwt::now();
    let Some(grant) = grant.filter(|g| now - g.issued_at <= 30) else {
        return oauth_error("invalid_grant");
    };
    if grant.request.redirect_uri != form.redirect_uri {
        return oauth_error("invalid_grant");
    }
    if let Some(challenge) = &grant.request.code_challenge {
        use base64::Engine;
        use sha2::Digest;
        let verifier = form.code_verifier.unwrap_or_default();
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        if &computed != challenge {
            return oauth_error("invalid_grant");
        }
    }
    let tamper = b.tamper.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let p = &grant.person;
    let mut claims = json!({
        "iss": b.issuer,
        "aud": grant.request.client_id,
        "sub": format!("EE{}", p.personal_code),
        "iat": now,
        "nbf": now,
        "exp": now + 40,
        "jti": random(),
        "nonce": grant.request.nonce,
        "state": grant.request.state,
        "amr": [grant.request.method],
        "acr": "high",
        "auth_time": now,
        "profile_attributes": {
            "given_name": p.given_name,
            "family_name": p.family_name,
            "date_of_birth": p.date_of_birth,
        },
    });
    let fields = claims.as_object_mut().expect("an object");
    match &tamper {
        Some(Tamper::WrongIssuer) => {
            fields.insert("iss".into(), "https://tara.example.invalid".into());
        }
        Some(Tamper::WrongAudience) => {
            fields.insert("aud".into(), "someone-else".into());
        }
        Some(Tamper::WrongNonce) => {
            fields.insert("nonce".into(), "not-the-nonce".into());
        }
        Some(Tamper::Expired) => {
            fields.insert("iat".into(), (now - 600).into());
            fields.insert("nbf".into(), (now - 600).into());
            fields.insert("exp".into(), (now - 560).into());
        }
        Some(Tamper::NoSub) => {
            fields.remove("sub");
        }
        Some(Tamper::InvalidPersonalCode) => {
            fields.insert("sub".into(), "EE49403136516".into());
        }
        Some(Tamper::Amr(amr)) => {
            fields.insert("amr".into(), json!([amr]));
        }
        Some(Tamper::Acr(acr)) => {
            fields.insert("acr".into(), acr.clone().into());
        }
        Some(Tamper::BadSignature | Tamper::NoIssInResponse) | None => {}
    }
    let key = if tamper == Some(Tamper::BadSignature) {
        &b.wrong_key
    } else {
        &b.key
    };
    match key.sign("JWT", fields) {
        Ok(id_token) => Json(json!({
            "access_token": random(),
            "token_type": "bearer",
            "expires_in": 40,
            "id_token": id_token,
        }))
        .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot sign").into_response(),
    }
}
