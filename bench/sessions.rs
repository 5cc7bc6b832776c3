//! Benchmark fixture for bench/run.sh's refresh and code-exchange scenarios, straight on
//! the database through the library (a login each would measure argon2). Only for a
//! benchmark's throw-away database.
//!
//! - Refresh: starts COUNT sessions of one user through one client
//!   (`tessera::sessions::start`, what the code exchange calls) and prints their refresh
//!   tokens, one a line:
//!
//!       DATABASE_URL=… bench_sessions CLIENT_ID USER_ID TENANT_ID COUNT > tokens.txt
//!
//! - Code exchange: stores COUNT authorization codes of one user for one client through
//!   the store call the login page makes once the user approves
//!   (`Store::insert_authorization_code`), bound to REDIRECT_URI and to the S256
//!   challenge of VERIFIER, and prints the codes, one a line. They are valid for ten
//!   minutes, not the server's `tokens.authorization_code_ttl_seconds`, so that storing
//!   them all before the run leaves none expired:
//!
//!       DATABASE_URL=… bench_sessions CLIENT_ID USER_ID TENANT_ID COUNT \
//!           codes REDIRECT_URI VERIFIER > codes.txt

use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::Utc;
use secrecy::SecretString;
use tessera::auth::TenantScope;
use tessera::clients::{self, ClientId};
use tessera::sessions::{self, StartSession, UserId};
use tessera::store::{CodeRecord, DatabaseSettings, Store};
use tessera::tenants::TenantId;
use tessera::tokens::{OpaqueToken, TokenSettings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (client, user, tenant, count, codes) = match args.as_slice() {
        [client, user, tenant, count] => (client, user, tenant, count, None),
        [client, user, tenant, count, mode, redirect_uri, verifier] if mode == "codes" => {
            (client, user, tenant, count, Some((redirect_uri, verifier)))
        }
        _ => bail!(
            "usage: bench_sessions CLIENT_ID USER_ID TENANT_ID COUNT [codes REDIRECT_URI \
             VERIFIER] (DATABASE_URL set)"
        ),
    };
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL is not set")?;
    let store = Store::connect(&DatabaseSettings {
        url: SecretString::from(url),
        max_connections: 2,
        acquire_timeout_seconds: 10,
        migrate_on_start: false,
        sqlite_cache_kib: 2_000,
    })
    .await?;
    let client_id = ClientId::parse(client).map_err(anyhow::Error::msg)?;
    let client = clients::get_client(&store, &TenantScope::All, &client_id)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let client = Arc::new(client);
    let user_id = UserId::parse(user).map_err(anyhow::Error::msg)?;
    let tenant_id = TenantId::parse(tenant).map_err(anyhow::Error::msg)?;
    let count: usize = count.parse().context("COUNT is a number")?;
    if let Some((redirect_uri, verifier)) = codes {
        let codes = store_codes(
            &store,
            &client,
            &user_id,
            &tenant_id,
            count,
            redirect_uri,
            verifier,
        )
        .await?;
        print!("{codes}");
        store.close().await;
        return Ok(());
    }
    // The defaults: a 30-day family, grace as configured does not matter at start.
    let settings = TokenSettings {
        refresh_grace_seconds: 10,
        refresh_family_lifetime_seconds: 2_592_000,
        authorization_code_ttl_seconds: 60,
        idle_timeout_min_seconds: 300,
    };
    let mut tokens = String::new();
    for _ in 0..count {
        let now = Utc::now();
        let mut tx = store.begin_write().await?;
        let request = StartSession {
            user_id: user_id.clone(),
            tenant_id: tenant_id.clone(),
            client: client.clone(),
            scope: vec![],
            auth_time: now,
            refresh_token: sessions::offers_refresh(&client),
        };
        let started = sessions::start(&mut tx, request, &settings, now).await?;
        tx.commit().await?;
        let token = started
            .refresh_token
            .context("the client gets no refresh tokens (REFRESH_TOKEN and OFFLINE needed)")?;
        tokens.push_str(token.expose());
        tokens.push('\n');
    }
    print!("{tokens}");
    store.close().await;
    Ok(())
}

/// COUNT codes as the login page stores them, one a line in the answer (see the header).
async fn store_codes(
    store: &Store,
    client: &clients::Client,
    user: &UserId,
    tenant: &TenantId,
    count: usize,
    redirect_uri: &str,
    verifier: &str,
) -> anyhow::Result<String> {
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    let mut codes = String::new();
    for _ in 0..count {
        let code = OpaqueToken::generate();
        let now = Utc::now().timestamp_millis();
        let record = CodeRecord {
            code_hash: code.hash().as_str().to_owned(),
            client_id: client.id.to_string(),
            user_id: user.to_string(),
            tenant_id: tenant.to_string(),
            redirect_uri: redirect_uri.to_owned(),
            redirect_uri_sent: true,
            scope: String::new(),
            code_challenge: Some(challenge.clone()),
            auth_time: now,
            created_at: now,
            expires_at: now + 600_000,
            used_at: None,
            session_id: None,
        };
        store.insert_authorization_code(&record, 0).await?;
        codes.push_str(code.expose());
        codes.push('\n');
    }
    Ok(codes)
}
