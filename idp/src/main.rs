//! The `idp` command: serve, rotate signing keys, hash a client secret, list clients.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use idp::{Application, Config};
use shared::jwt::Alg;

/// mimalloc rather than glibc's malloc: on the hot paths malloc and free took a fifth of the
/// IdP's CPU (docs/PERFORMANCE.md, "Where the CPU goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_arena_eager_commit` in mimalloc 3's `mi_option_e` (include/mimalloc.h), which
/// the crate does not name.
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Has mimalloc commit memory as it is used rather than ahead: with eager commit the idle IdP
/// held 38 MB instead of 23 MB, and more per session. It must run before the first allocation
/// (the runtime allocates before `main`), so it runs as the program is loaded.
extern "C" fn commit_memory_on_demand() {
    // SAFETY: mi_option_set only stores the value; nothing else runs yet.
    unsafe { libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0) };
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static COMMIT_MEMORY_ON_DEMAND: extern "C" fn() = commit_memory_on_demand;

#[derive(Parser)]
#[command(version, about = "The OpenID Provider of the school federation")]
struct Cli {
    /// A TOML configuration file; IDP_* environment variables override it.
    #[arg(long, short, env = "IDP_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the IdP.
    Serve,
    /// Print audit events, newest first (`--json` for one object per line). A person's events
    /// are those of `--subject person:<id>` and of each of their accounts (`<institution>/<id>`).
    Events(shared::audit::EventsArgs),
    /// Make a new signing key; the old one signs nothing more and leaves the JWKS after `--keep-minutes`.
    RotateKey {
        #[arg(long, default_value = "ES256")]
        alg: String,
        #[arg(long, default_value_t = 60)]
        keep_minutes: i64,
    },
    /// Print a new random client secret and the hash to put in the client's registration.
    NewSecret,
    /// List the deliveries given up (back-channel logouts, profile updates), or try one again
    /// (`--retry ID`) or discard it (`--discard ID`).
    Outbox {
        #[arg(long)]
        retry: Option<String>,
        #[arg(long)]
        discard: Option<String>,
    },
    /// Copy the SQLite database, while the IdP runs, into a new file (restore: stop the IdP
    /// and put the file in place of the database).
    Backup { to: std::path::PathBuf },
    /// Check the configuration, the database, Redis, the clients and each upstream's discovery;
    /// print every problem without starting.
    CheckConfig,
    /// List the clients the configuration registers (inline and in the clients file).
    Clients,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::NewSecret => {
            let secret = idp::service::random_token();
            println!(
                "client secret: {secret}\nsecret_hash = \"{}\"",
                idp::config::hash_secret(&secret)
            );
            Ok(())
        }
        command => {
            let config = Config::load(cli.config.as_deref())?;
            shared::observe::init_logging(config.log_json);
            match command {
                Command::Serve => {
                    let app = Application::build(config).await?;
                    app.run_until(shared::http::termination()).await
                }
                Command::RotateKey { alg, keep_minutes } => {
                    let alg = Alg::parse(&alg)
                        .ok_or_else(|| anyhow::anyhow!("--alg must be ES256, EdDSA or RS256"))?;
                    let db = idp::app::open_database(&config).await?;
                    let kid = idp::service::keys::rotate(
                        &db,
                        &idp::app::key_encryption(&config)?,
                        alg,
                        keep_minutes * 60,
                        shared::Clock::system().now(),
                    )
                    .await?;
                    println!(
                        "new {} key {kid}; running instances pick it up within reload_seconds",
                        alg.name()
                    );
                    Ok(())
                }
                Command::Outbox { retry, discard } => {
                    let db = idp::app::open_database(&config).await?;
                    use idp::store::outbox;
                    let now_ms = shared::Clock::system().now_millis();
                    if let Some(id) = retry {
                        let deadline = now_ms + config.logout_deadline_minutes * 60_000;
                        anyhow::ensure!(
                            outbox::retry(&db, &id, now_ms, deadline).await?,
                            "no given-up delivery {id}"
                        );
                        println!(
                            "{id} will be tried again (running instances take it at their next round)"
                        );
                    } else if let Some(id) = discard {
                        anyhow::ensure!(
                            outbox::discard(&db, &id).await?,
                            "no given-up delivery {id}"
                        );
                        println!("{id} discarded");
                    } else {
                        for d in outbox::dead_letters(&db).await? {
                            println!(
                                "{}\t{}\t{}\t{}\t{} attempts\t{}",
                                d.id,
                                d.kind,
                                d.client_id,
                                d.sub,
                                d.attempts,
                                d.last_error.unwrap_or_default()
                            );
                        }
                    }
                    Ok(())
                }
                Command::Backup { to } => {
                    let db = idp::app::open_database(&config).await?;
                    db.backup_to(&to).await?;
                    println!("backed up to {}", to.display());
                    Ok(())
                }
                Command::CheckConfig => {
                    shared::check::report(&idp::check::check_config(&config).await)
                }
                Command::Events(args) => {
                    let db = idp::app::open_database(&config).await?;
                    args.print(&db).await
                }
                Command::Clients => {
                    // The registry as the configuration makes it, which a running IdP follows.
                    let inline = config.clients.iter().map(|c| (c, "config"));
                    let file = config.file_clients.iter().map(|c| (c, "clients_file"));
                    for (c, from) in inline.chain(file) {
                        println!(
                            "{}\t{}\t{}\t{}",
                            c.client_id,
                            c.name,
                            c.redirect_uris.join(" "),
                            from
                        );
                    }
                    Ok(())
                }
                Command::NewSecret => unreachable!("handled above"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ARENA_EAGER_COMMIT;

    #[test]
    fn the_option_set_at_load_is_mimallocs_arena_eager_commit() {
        // Set to 0 as the program loaded, between two options that default to 1 (its own
        // default is 2): a mimalloc whose options moved fails here rather than set another one.
        // SAFETY: reading options.
        let around: Vec<_> = (ARENA_EAGER_COMMIT - 1..=ARENA_EAGER_COMMIT + 1)
            .map(|option| unsafe { libmimalloc_sys::mi_option_get(option) })
            .collect();
        assert_eq!(around, [1, 0, 1]);
    }
}
