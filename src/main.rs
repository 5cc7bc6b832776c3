//! The `tessera` command: `serve` (the default), `migrate`, `keys`, and the admin
//! commands of [`tessera::cli`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::Utc;
use clap::{Parser, Subcommand};
use tessera::audit::AuditContext;
use tessera::cli::{AdminCommand, Output};
use tessera::config::Settings;
use tessera::keys::{Algorithm, ImportOutcome, KeyService, RotateOutcome};
use tessera::startup::Application;
use tessera::store::Store;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "OAuth 2.0 / JWT authorization server"
)]
struct Cli {
    /// A TOML file layered over config/default.toml (environment variables still win).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the API's JSON instead of text (admin commands).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Manage signing keys (running servers pick changes up within signing.refresh_seconds).
    #[command(subcommand)]
    Keys(KeysCommand),
    #[command(flatten)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List every signing key with its state and times.
    List,
    /// Start a rotation: a new key is published now and signs after
    /// signing.prepublish_seconds (at once with --immediate).
    Rotate {
        /// Sign with the new key at once (for a compromised key).
        #[arg(long)]
        immediate: bool,
    },
    /// Import a private key from another server so its tokens stay verifiable.
    /// The key is published as retired: it verifies, it never signs.
    Import {
        /// ES256, EdDSA or RS256.
        #[arg(long)]
        alg: Algorithm,
        /// The kid the old server put in its tokens (default: the RFC 7638 thumbprint).
        #[arg(long)]
        kid: Option<String>,
        /// PEM file: PKCS#8 "PRIVATE KEY", or PKCS#1 "RSA PRIVATE KEY" for RS256.
        file: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("tessera: {error:#}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    let is_admin = matches!(command, Command::Admin(_));
    if is_admin {
        tessera::telemetry::init_for_command();
    } else {
        tessera::telemetry::init(&settings.log);
    }
    let outcome = match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::Keys(command) => keys(settings, command).await,
        Command::Admin(command) => {
            let output = if cli.json {
                Output::Json
            } else {
                Output::Human
            };
            tessera::cli::run(settings, command, output).await
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if !is_admin {
                tracing::error!(error = format!("{error:#}"), "tessera failed");
            }
            eprintln!("tessera: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    Application::build(settings)
        .await?
        .run_until_stopped()
        .await
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database).await?;
    store.migrate().await?;
    println!("migrations applied ({})", store.backend());
    Ok(())
}

async fn keys(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database).await?;
    if settings.database.migrate_on_start {
        store.migrate().await?;
    }
    let now = Utc::now();
    match command {
        KeysCommand::List => print_keys(&store).await,
        KeysCommand::Rotate { immediate } => {
            let service = KeyService::start(store.clone(), &settings.signing, now).await?;
            match service.rotate(now, immediate, &AuditContext::cli()).await? {
                RotateOutcome::Started(kid) => println!("rotation started: new key {kid}"),
                RotateOutcome::AlreadyPending(kid) => {
                    bail!("a rotation is already under way: key {kid} is pending (use --immediate)")
                }
            }
            print_keys(&store).await
        }
        KeysCommand::Import { alg, kid, file } => {
            let der = read_private_key_pem(&file, alg)?;
            let service = KeyService::start(store.clone(), &settings.signing, now).await?;
            match service
                .import(alg, der, kid, now, &AuditContext::cli())
                .await?
            {
                ImportOutcome::Imported(kid) => println!("imported key {kid} (verification only)"),
                ImportOutcome::KidTaken(kid) => bail!("a key with kid {kid} already exists"),
            }
            print_keys(&store).await
        }
    }
}

async fn print_keys(store: &Store) -> anyhow::Result<()> {
    let keys = tessera::keys::list_keys(store, Utc::now()).await?;
    let time = |at: Option<chrono::DateTime<Utc>>| {
        at.map_or("-".to_owned(), |at| {
            at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        })
    };
    println!(
        "{:<44} {:<6} {:<8} {:<9} {:<20} {:<20} {:<20}",
        "KID", "ALG", "STATE", "ORIGIN", "ACTIVATES", "RETIRES", "EXPIRES"
    );
    for key in keys {
        println!(
            "{:<44} {:<6} {:<8} {:<9} {:<20} {:<20} {:<20}",
            key.kid,
            key.alg.as_str(),
            serde_json::to_value(key.state)?
                .as_str()
                .unwrap_or_default(),
            key.origin,
            time(Some(key.activates_at)),
            time(key.retires_at),
            time(key.expires_at),
        );
    }
    Ok(())
}

/// The DER inside a PEM private key file, in a form `ring` can parse.
fn read_private_key_pem(file: &std::path::Path, alg: Algorithm) -> anyhow::Result<Vec<u8>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let pem = pem::parse(text).with_context(|| format!("{} is not PEM", file.display()))?;
    match (pem.tag(), alg) {
        ("PRIVATE KEY", _) | ("RSA PRIVATE KEY", Algorithm::RS256) => Ok(pem.into_contents()),
        (tag, _) => bail!(
            "{}: a {tag:?} block is not supported for {alg}; convert it to PKCS#8 with \
             `openssl pkcs8 -topk8 -nocrypt -in KEY.pem -out KEY.pk8.pem`",
            file.display()
        ),
    }
}
