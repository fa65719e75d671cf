//! The `school-node` command: serve the site, create an admin, import students.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use school_node::service::{ServiceError, accounts, import};
use school_node::store::accounts::Role;
use school_node::{Application, Config};

#[derive(Parser)]
#[command(version, about = "One institution's site in the school federation")]
struct Cli {
    /// A TOML configuration file; SCHOOL_* environment variables override it.
    #[arg(long, short, env = "SCHOOL_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the site.
    Serve,
    /// Create an administrator with a temporary password, printed once.
    CreateAdmin {
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
        #[arg(long)]
        email: Option<String>,
    },
    /// Import students from a CSV file and print a line for each row.
    ImportCsv { file: PathBuf },
    /// Check the configuration, the database, Redis, the IdP's discovery and the SMTP server;
    /// print every problem without starting.
    CheckConfig,
    /// Copy the SQLite database, while the node runs, into a new file (restore: stop the node
    /// and put the file in place of the database).
    Backup { to: PathBuf },
    /// Make a new federation signing key; the previous one stays published. Restart each
    /// instance to sign with the new one.
    RotateKey,
    /// Print audit events, newest first (`--json` for one object per line).
    Events(shared::audit::EventsArgs),
    /// Register this node with the IdP using the one-time enrolment token an operator made in
    /// the IdP's console; single sign-on is on at the next start.
    Enroll {
        /// The IdP's issuer URL, e.g. https://idp.example.ee
        #[arg(long)]
        idp: String,
        #[arg(long)]
        token: String,
        /// Write the client secret to this file instead of the data directory (the file
        /// `SCHOOL_SSO__CLIENT_SECRET_FILE` names, by default).
        #[arg(long, env = "SCHOOL_SSO__CLIENT_SECRET_FILE")]
        secret_file: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The secret file an enrolment is to write need not exist before it.
    if let Command::Enroll {
        secret_file: Some(path),
        ..
    } = &cli.command
        && !path.exists()
    {
        std::fs::write(path, "").with_context(|| format!("cannot create {}", path.display()))?;
    }
    let config = Config::load(cli.config.as_deref())?;
    shared::observe::init_logging(config.log_json);
    match cli.command {
        Command::Serve => {
            let app = Application::build(config).await?;
            app.run_until(shared::http::termination()).await
        }
        Command::CreateAdmin {
            first_name,
            last_name,
            email,
        } => {
            let (db, _) = school_node::app::open_storage(&config).await?;
            let input = accounts::PersonalDataInput {
                first_name,
                last_name,
                email: email.unwrap_or_default(),
                ..Default::default()
            };
            let password = school_node::service::passwords::temporary();
            match accounts::create(&db, &input, &[Role::Admin], Some(&password)).await {
                Ok(id) => {
                    println!(
                        "created administrator {id}\ntemporary password: {}",
                        password.expose()
                    );
                    Ok(())
                }
                Err(ServiceError::Invalid(errors)) => anyhow::bail!("not created: {errors:?}"),
                Err(e) => Err(e.into()),
            }
        }
        Command::CheckConfig => {
            shared::check::report(&school_node::app::check_config(&config).await)
        }
        Command::Backup { to } => {
            let (db, _) = school_node::app::open_storage(&config).await?;
            db.backup_to(&to).await?;
            println!("backed up to {}", to.display());
            Ok(())
        }
        Command::Events(args) => {
            let (db, _) = school_node::app::open_storage(&config).await?;
            args.print(&db).await
        }
        Command::Enroll {
            idp,
            token,
            secret_file,
        } => {
            let enrolled =
                school_node::sso::enrolment::enroll(&config, &idp, &token, secret_file.as_deref())
                    .await?;
            println!(
                "enrolled at {} as {}; single sign-on is on at the next start",
                enrolled.issuer, enrolled.client_id
            );
            Ok(())
        }
        Command::RotateKey => {
            let (db, _) = school_node::app::open_storage(&config).await?;
            let kid = school_node::sso::rotate_node_key(&db).await?;
            println!("new federation key {kid}; restart each instance to sign with it");
            Ok(())
        }
        Command::ImportCsv { file } => {
            let (db, _) = school_node::app::open_storage(&config).await?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            match import::import_students(&db, &bytes).await? {
                Ok(rows) => {
                    for row in rows {
                        println!("line {}\t{}\t{:?}", row.line, row.name, row.outcome);
                    }
                    Ok(())
                }
                Err(problem) => {
                    anyhow::bail!("the file was refused, nothing was imported: {problem:?}")
                }
            }
        }
    }
}
