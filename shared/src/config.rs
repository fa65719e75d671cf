//! Loading a service's typed configuration: built-in defaults, then a TOML file, then environment
//! variables `<PREFIX><KEY>` (nested keys joined by `__`). A secret may instead come from a file
//! named by `<PREFIX><KEY>_FILE` (Docker and Kubernetes secrets).

use std::path::Path;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// `secret_keys` are key paths such as `database_url` or `mail.smtp_password`.
pub fn load<T: Serialize + DeserializeOwned + Default>(
    prefix: &str,
    file: Option<&Path>,
    secret_keys: &[&str],
) -> anyhow::Result<T> {
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(file) = file {
        anyhow::ensure!(
            file.exists(),
            "configuration file {} does not exist",
            file.display()
        );
        figment = figment.merge(Toml::file(file));
    }
    let file_vars: Vec<String> = secret_keys
        .iter()
        .map(|k| format!("{}_file", k.replace('.', "__")))
        .collect();
    let mut ignored: Vec<&str> = file_vars.iter().map(String::as_str).collect();
    ignored.push("config");
    figment = figment.merge(Env::prefixed(prefix).ignore(&ignored).split("__"));
    for key in secret_keys {
        let var = format!("{prefix}{}_FILE", key.replace('.', "__").to_uppercase());
        if let Ok(path) = std::env::var(&var) {
            let value = std::fs::read_to_string(&path)
                .with_context(|| format!("{var}: cannot read {path}"))?;
            figment = figment.merge((*key, value.trim().to_owned()));
        }
    }
    figment.extract().context("invalid configuration")
}
