//! `idp check-config`: what the configuration names, checked without starting.

use shared::ephemeral::Ephemeral;

use crate::app::{http_client, key_encryption, open_database};
use crate::config::Config;
use crate::service::clients::Registry;
use crate::service::registration::Registration;

/// Checks what the configuration names without starting: the database, the ephemeral store,
/// the clients, the key-encryption keys, and each upstream's discovery.
pub async fn check_config(config: &Config) -> Vec<shared::check::Finding> {
    use shared::check::check;
    let mut findings = vec![("configuration".to_owned(), Ok("read and valid".to_owned()))];
    let db = open_database(config).await;
    findings.push(match &db {
        Ok(db) => (
            "database".to_owned(),
            Ok(format!("{} (migrations applied)", db.kind())),
        ),
        Err(e) => ("database".to_owned(), Err(format!("{e:#}"))),
    });
    findings.push(
        check("ephemeral store", async {
            let store = Ephemeral::open(
                &config.redis(),
                config.redis_prefix.as_deref().unwrap_or("idp:"),
            )
            .await?;
            store.get("health").await?;
            anyhow::Ok(store.kind())
        })
        .await,
    );
    if let Ok(db) = db {
        let registration = Registration {
            db,
            registry: Registry::new(http_client().unwrap_or_default()),
            inline: config.clients.clone(),
            file: config.clients_file.clone(),
            clock: config.clock.clone(),
            last_written: Default::default(),
        };
        findings.push(
            check("clients", async {
                anyhow::Ok(format!("{} registered", registration.effective()?.len()))
            })
            .await,
        );
    }
    findings.push(
        check("key-encryption key", async {
            let sealing = key_encryption(config)?;
            anyhow::Ok(format!("{sealing:?}"))
        })
        .await,
    );
    for upstream in &config.upstreams {
        findings.push(
            check(format!("upstream {}", upstream.id), async {
                let up = crate::service::upstream::Upstream::new(upstream.clone(), &config.issuer)?;
                let iss = up.requires_iss().await?;
                anyhow::Ok(format!(
                    "discovery and keys fetched{}",
                    if iss { "; answers carry iss" } else { "" }
                ))
            })
            .await,
        );
    }
    findings
}
