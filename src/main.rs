//! The `tessera` command: `serve` (the default), `migrate`, `keys`, and the admin
//! commands of [`tessera::cli`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::Utc;
use clap::{Parser, Subcommand};
use serde_json::json;
use tessera::audit::AuditContext;
use tessera::cli::{AdminCommand, Output};
use tessera::config::Settings;
use tessera::http::views::KeyResponse;
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
    /// Print the API's JSON instead of text (admin and key commands).
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
    /// Revoke a key: it stops verifying at once (its tokens are refused) and, when it
    /// signed, the next key takes over.
    Revoke {
        /// The key's kid, as `tessera keys list` shows it.
        kid: String,
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
    // A one-shot command's standard output is its result (`--json` parses it): its
    // logs go to standard error.
    let is_command = matches!(command, Command::Admin(_) | Command::Keys(_));
    let output = if cli.json {
        Output::Json
    } else {
        Output::Human
    };
    if is_command {
        tessera::telemetry::init_for_command();
    } else {
        tessera::telemetry::init(&settings.log);
    }
    let outcome = match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::Keys(command) => keys(settings, command, output).await,
        Command::Admin(command) => tessera::cli::run(settings, command, output).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if !is_command {
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

/// The key commands. `--json` prints what the API answers for the same operation: the
/// key list as `GET /api/v1/keys` does, a rotated, imported or revoked key as one
/// key object; text output shows the whole key table after a change.
async fn keys(settings: Settings, command: KeysCommand, output: Output) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database).await?;
    if settings.database.migrate_on_start {
        store.migrate().await?;
    }
    let now = Utc::now();
    let changed = match command {
        KeysCommand::List => None,
        KeysCommand::Rotate { immediate } => {
            let service = KeyService::start(store.clone(), &settings.signing, now).await?;
            match service.rotate(now, immediate, &AuditContext::cli()).await? {
                RotateOutcome::Started(kid) => {
                    Some((format!("rotation started: new key {kid}"), kid))
                }
                RotateOutcome::AlreadyPending(kid) => {
                    bail!("a rotation is already under way: key {kid} is pending (use --immediate)")
                }
            }
        }
        KeysCommand::Import { alg, kid, file } => {
            let der = read_private_key_pem(&file, alg)?;
            let service = KeyService::start(store.clone(), &settings.signing, now).await?;
            match service
                .import(alg, der, kid, now, &AuditContext::cli())
                .await?
            {
                ImportOutcome::Imported(kid) => {
                    Some((format!("imported key {kid} (verification only)"), kid))
                }
                ImportOutcome::KidTaken(kid) => bail!("a key with kid {kid} already exists"),
            }
        }
        KeysCommand::Revoke { kid } => {
            let service = KeyService::start(store.clone(), &settings.signing, now).await?;
            if !service.revoke(&kid, now, &AuditContext::cli()).await? {
                bail!("no unrevoked signing key has kid {kid}");
            }
            Some((format!("revoked key {kid}"), kid))
        }
    };
    let keys = tessera::keys::list_keys(&store, Utc::now()).await?;
    match (output, changed) {
        (Output::Json, None) => {
            let keys: Vec<KeyResponse> = keys.into_iter().map(KeyResponse::from).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "keys": keys }))?
            );
        }
        (Output::Json, Some((_, kid))) => {
            let key = keys
                .into_iter()
                .find(|key| key.kid == kid)
                .with_context(|| format!("key {kid} is not in the key list"))?;
            println!("{}", serde_json::to_string_pretty(&KeyResponse::from(key))?);
        }
        (Output::Human, changed) => {
            if let Some((message, _)) = changed {
                println!("{message}");
            }
            print_key_table(keys)?;
        }
    }
    Ok(())
}

fn print_key_table(keys: Vec<tessera::keys::KeyView>) -> anyhow::Result<()> {
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
