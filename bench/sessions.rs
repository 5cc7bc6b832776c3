//! Benchmark fixture for bench/run.sh's refresh scenario: starts COUNT sessions of one
//! user through one client, straight through the library (`tessera::sessions::start`,
//! what the code exchange calls; a login each would measure argon2, not refresh), and
//! prints their refresh tokens, one a line. Only for a benchmark's throw-away database.
//!
//!     DATABASE_URL=… bench_sessions CLIENT_ID USER_ID TENANT_ID COUNT > tokens.txt

use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::Utc;
use secrecy::SecretString;
use tessera::auth::TenantScope;
use tessera::clients::{self, ClientId};
use tessera::sessions::{self, StartSession, UserId};
use tessera::store::{DatabaseSettings, Store};
use tessera::tenants::TenantId;
use tessera::tokens::TokenSettings;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [client, user, tenant, count] = args.as_slice() else {
        bail!("usage: bench_sessions CLIENT_ID USER_ID TENANT_ID COUNT (DATABASE_URL set)");
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
