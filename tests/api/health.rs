//! Liveness and readiness.

use serde_json::Value;

use crate::helpers::{assert_api_error, spawn_app, Backend};

crate::on_both_backends!(
    healthz_and_readyz_answer,
    readyz_is_503_when_the_database_is_gone
);

async fn healthz_and_readyz_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

async fn readyz_is_503_when_the_database_is_gone(backend: Backend) {
    let app = spawn_app(backend).await;
    app.store.close().await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the process itself is still up");
    let api = app.get_tenant("acme").await;
    let body = assert_api_error(api, 503).await;
    assert_eq!(body["detailCode"], "503 Service Unavailable");
}
