//! Two Tessera processes on one database, rotating every few seconds: one active key at
//! every instant, one new key per due rotation, and each process accepts the other's
//! tokens.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;

use crate::helpers::{random_master_key, Backend, TestDatabase};
use crate::process::{tessera, Running};

crate::on_both_backends!(two_processes_rotate_as_one);

const ROTATION_SECONDS: i64 = 3;

struct Issued {
    kid: String,
    sent_ms: i64,
    received_ms: i64,
}

async fn two_processes_rotate_as_one(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let dir = tempfile::tempdir().unwrap();
    let admin_key = tessera::auth::admin_key::generate_key();
    let master_key = random_master_key();
    let process = || {
        let mut command = tessera(dir.path());
        command
            .env("DATABASE_URL", &database.url)
            // Replicas share one public issuer, as behind a load balancer.
            .env("TESSERA_SERVER__ISSUER", "http://tessera.test")
            .env("TESSERA_ADMIN__API_KEY", &admin_key)
            .env("TESSERA_SIGNING__MASTER_KEY", &master_key)
            .env(
                "TESSERA_SIGNING__ROTATION_INTERVAL_SECONDS",
                ROTATION_SECONDS.to_string(),
            )
            .env("TESSERA_SIGNING__PREPUBLISH_SECONDS", "2")
            .env("TESSERA_SIGNING__REFRESH_SECONDS", "1")
            .env("TESSERA_SIGNING__JWKS_MAX_AGE_SECONDS", "1")
            .env("TESSERA_SIGNING__MAX_TOKEN_LIFETIME_SECONDS", "4")
            .env("TESSERA_SIGNING__LEEWAY_SECONDS", "1")
            .env("TESSERA_ADMIN__TENANT_TOKEN_SECONDS", "4");
        Running::spawn(command)
    };
    // Both start at once on an empty database.
    let first = process();
    let second = process();
    let addresses = [first.address(), second.address()];

    let mut settings = crate::helpers::test_settings(&database.url, &admin_key);
    settings.database.max_connections = 1;
    let store = tessera::store::Store::connect(&settings.database)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let created = client
        .put(format!("{}/api/v1/tenants/acme", addresses[0]))
        .bearer_auth(&admin_key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let mut schedules: BTreeMap<String, (i64, Option<i64>, String)> = BTreeMap::new();
    let mut issued = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(11);
    while Instant::now() < deadline {
        for (signer, verifier) in [(0, 1), (1, 0)] {
            let sent_ms = Utc::now().timestamp_millis();
            let response = client
                .get(format!("{}/api/v1/tenants/acme/token", addresses[signer]))
                .bearer_auth(&admin_key)
                .send()
                .await
                .unwrap();
            let received_ms = Utc::now().timestamp_millis();
            assert_eq!(response.status(), 200);
            let token = response.json::<serde_json::Value>().await.unwrap()["token"]
                .as_str()
                .unwrap()
                .to_owned();
            let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
            issued.push(Issued {
                kid,
                sent_ms,
                received_ms,
            });

            let accepted = client
                .get(format!("{}/api/v1/tenant/token", addresses[verifier]))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(
                accepted.status(),
                200,
                "process {verifier} refused a token of process {signer}"
            );
        }

        let now = Utc::now();
        let keys = tessera::keys::list_keys(&store, now).await.unwrap();
        let active = keys
            .iter()
            .filter(|k| k.state == tessera::keys::KeyState::Active)
            .count();
        assert!(active <= 1, "{active} active keys at {now}: {keys:?}");
        for key in keys {
            schedules.insert(
                key.kid.clone(),
                (
                    key.activates_at.timestamp_millis(),
                    key.retires_at.map(|at| at.timestamp_millis()),
                    key.origin.to_owned(),
                ),
            );
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    let mut activations: Vec<i64> = schedules
        .values()
        .map(|(activates, _, _)| *activates)
        .collect();
    activations.sort();
    assert!(
        activations.len() >= 4,
        "several rotations happened: {schedules:?}"
    );
    for pair in activations.windows(2) {
        assert!(
            pair[1] - pair[0] >= ROTATION_SECONDS * 1000,
            "two keys for one due rotation: {schedules:?}"
        );
    }
    for token in &issued {
        let (activates, retires, _) = &schedules[&token.kid];
        let active_during_request = *activates <= token.received_ms
            && retires.is_none_or(|retires| retires >= token.sent_ms);
        assert!(
            active_during_request,
            "token signed by {} outside its active time",
            token.kid
        );
    }
    let kids: std::collections::BTreeSet<&str> = issued.iter().map(|t| t.kid.as_str()).collect();
    assert!(
        kids.len() >= 3,
        "tokens were signed by successive keys: {kids:?}"
    );

    assert!(first.terminate().success());
    assert!(second.terminate().success());
}
