//! `school-node enroll`: the node registers itself with the IdP (RFC 7591) with the one-time
//! token an operator made, and keeps what it receives in its data directory, so that single
//! sign-on works without a file edited at the IdP or here. Everything it registers is derived
//! from this node's own `public_url`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// Where an enrolled node keeps its IdP, client id and (unless it went to a file of its own)
/// client secret.
pub fn enrolment_file(data_dir: &Path) -> PathBuf {
    data_dir.join("sso-enrolment.toml")
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Enrolled {
    pub issuer: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// What the node registers: its pages under `public_url`.
pub fn metadata(config: &Config) -> serde_json::Value {
    let site = config.public_url.trim_end_matches('/');
    serde_json::json!({
        "client_name": config.institution_name,
        "client_uri": site,
        "redirect_uris": [format!("{site}/sso/callback")],
        "post_logout_redirect_uris": [format!("{site}/logged-out")],
        "backchannel_logout_uri": format!("{site}/sso/backchannel-logout"),
        "frontchannel_logout_uri": format!("{site}/sso/frontchannel-logout"),
        "jwks_uri": format!("{site}{}", shared::federation::path::JWKS),
        "logo_uri": config.logo_file.as_ref().map(|_| format!("{site}/logo")),
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    })
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    registration_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct Registered {
    client_id: String,
    client_secret: String,
}

/// Registers this node at the IdP `idp` with `token`; the secret goes to `secret_file` when
/// one is named, else into the enrolment file (readable by this user only).
pub async fn enroll(
    config: &Config,
    idp: &str,
    token: &str,
    secret_file: Option<&Path>,
) -> anyhow::Result<Enrolled> {
    let idp = idp.trim_end_matches('/');
    let http = shared::http::client_builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()?;
    let discovery: Discovery = http
        .get(format!("{idp}/.well-known/openid-configuration"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("the IdP at {idp} does not answer"))?
        .json()
        .await
        .context("the IdP's discovery document is not readable")?;
    anyhow::ensure!(
        discovery.issuer == idp,
        "the IdP names itself {}, not {idp}",
        discovery.issuer
    );
    let endpoint = discovery
        .registration_endpoint
        .context("the IdP offers no registration endpoint")?;
    let response = http
        .post(&endpoint)
        .bearer_auth(token.trim())
        .json(&metadata(config))
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    let status = response.status();
    if !status.is_success() {
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        anyhow::bail!(
            "the IdP refused the enrolment ({status}): {} {}",
            body["error"].as_str().unwrap_or(""),
            body["error_description"].as_str().unwrap_or("")
        );
    }
    let registered: Registered = response
        .json()
        .await
        .context("the IdP's answer is not a registration")?;
    let mut enrolled = Enrolled {
        issuer: discovery.issuer,
        client_id: registered.client_id,
        client_secret: Some(registered.client_secret.clone()),
    };
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    if let Some(path) = secret_file {
        write_private(path, &registered.client_secret)?;
        enrolled.client_secret = None;
    }
    write_private(&enrolment_file(&config.data_dir), &toml_text(&enrolled)?)?;
    Ok(enrolled)
}

fn toml_text(enrolled: &Enrolled) -> anyhow::Result<String> {
    let mut text =
        String::from("# Written by `school-node enroll`: this node's registration at the IdP.\n");
    text.push_str(&format!(
        "issuer = {:?}\nclient_id = {:?}\n",
        enrolled.issuer, enrolled.client_id
    ));
    if let Some(secret) = &enrolled.client_secret {
        text.push_str(&format!("client_secret = {secret:?}\n"));
    }
    Ok(text)
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// An enrolled node's registration, when the configuration names no IdP itself.
pub fn read(data_dir: &Path) -> anyhow::Result<Option<Enrolled>> {
    let path = enrolment_file(data_dir);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    use figment::providers::Format;
    let enrolled: Enrolled = figment::Figment::from(figment::providers::Toml::string(&text))
        .extract()
        .with_context(|| format!("{} is not an enrolment", path.display()))?;
    Ok(Some(enrolled))
}
