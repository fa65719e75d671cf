//! `federation`: runs the local demo federation on embedded defaults.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(
    version,
    about = "Runs the demo institutions of the school federation on this machine"
)]
struct Cli {
    /// Where the institutions keep their SQLite files.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Another demo file instead of the built-in compose/demo.toml.
    #[arg(long)]
    demo: Option<PathBuf>,
    /// Run the institutions on their own, without the IdP.
    #[arg(long)]
    no_idp: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let demo = federation::Demo::load(cli.demo.as_deref())?;
    let options = federation::Options {
        data_dir: cli.data_dir,
        fixed_ports: true,
        with_idp: !cli.no_idp,
        ..federation::Options::default()
    };
    let running = federation::start(&demo, &options).await?;
    println!("\nThe demo federation is running (Ctrl-C stops it):");
    if let Some(idp) = &running.idp {
        println!("  {:<22} {}", "IdP", idp.url());
    }
    for node in &running.nodes {
        println!("  {:<22} {}", node.name, node.url());
    }
    if let Some(broker) = &running.broker {
        println!("  {:<22} {}", "test eID broker", broker.url());
    }
    println!(
        "Demo password for the accounts listed in README.md: {}\n",
        federation::DEMO_PASSWORD
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
