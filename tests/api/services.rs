//! The domain services the API handlers call, called directly: each read, listing and
//! deletion sees only the caller's tenant, and a refused call changes nothing.

use chrono::Utc;
use serde_json::json;
use tessera::audit::{self, AuditContext};
use tessera::auth::TenantScope;
use tessera::clients::{self, ClientError, ClientId, DeleteSecretError};
use tessera::store::UpsertOutcome;
use tessera::tenants::{self, TenantChanges, TenantError, TenantId, UpsertTenantError};

use crate::helpers::{spawn_app, Backend};

crate::on_both_backends!(
    client_services_see_only_the_callers_tenant,
    tenant_services_validate_and_scope,
    audit_listing_is_scoped,
);

fn only(tenant: &str) -> TenantScope {
    TenantScope::Only(TenantId::parse(tenant).unwrap())
}

fn audit_context() -> AuditContext {
    AuditContext {
        actor: "test".into(),
        request_id: None,
    }
}

async fn client_services_see_only_the_callers_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_client("acme", json!({})).await;
    let id = ClientId::parse(created["id"].as_str().unwrap()).unwrap();
    let (own, other) = (only("acme"), only("globex"));
    let (audit, now) = (audit_context(), Utc::now());

    assert!(matches!(
        clients::get_client(&app.store, &other, &id).await,
        Err(ClientError::NotFound)
    ));
    assert!(matches!(
        clients::client_with_secrets(&app.store, &other, &id).await,
        Err(ClientError::NotFound)
    ));
    assert_eq!(
        clients::list_clients(&app.store, &other, None, None, 10)
            .await
            .unwrap(),
        []
    );
    let listed = clients::list_clients(&app.store, &own, None, None, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);

    let shown = clients::client_with_secrets(&app.store, &own, &id)
        .await
        .unwrap();
    assert_eq!(shown.client, listed[0]);
    let secret_id = shown.secrets[0].id;
    assert!(matches!(
        clients::delete_secret(&app.store, &other, &id, secret_id, &audit, now).await,
        Err(DeleteSecretError::ClientMissing)
    ));
    assert!(matches!(
        clients::delete_secret(&app.store, &own, &id, secret_id + 1000, &audit, now).await,
        Err(DeleteSecretError::SecretMissing)
    ));
    assert_eq!(app.store.client_secrets(&id).await.unwrap().len(), 1);
    clients::delete_secret(&app.store, &own, &id, secret_id, &audit, now)
        .await
        .unwrap();
    assert_eq!(app.store.client_secrets(&id).await.unwrap(), []);

    assert!(matches!(
        clients::delete_client(&app.store, &other, &id, &audit, now).await,
        Err(ClientError::NotFound)
    ));
    assert!(clients::get_client(&app.store, &own, &id).await.is_ok());
    clients::delete_client(&app.store, &own, &id, &audit, now)
        .await
        .unwrap();
    assert!(matches!(
        clients::get_client(&app.store, &TenantScope::All, &id).await,
        Err(ClientError::NotFound)
    ));
}

async fn tenant_services_validate_and_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = TenantId::parse("acme").unwrap();
    let (audit, now) = (audit_context(), Utc::now());

    let blank: TenantChanges = serde_json::from_value(json!({"name": " "})).unwrap();
    assert!(matches!(
        tenants::upsert_tenant(&app.store, &id, &blank, &audit, now).await,
        Err(UpsertTenantError::Invalid(problems)) if problems.len() == 1
    ));
    assert_eq!(app.store.tenant(&id).await.unwrap(), None, "nothing stored");

    let named: TenantChanges = serde_json::from_value(json!({"name": "Acme"})).unwrap();
    let (_, outcome) = tenants::upsert_tenant(&app.store, &id, &named, &audit, now)
        .await
        .unwrap();
    assert!(matches!(outcome, UpsertOutcome::Created));
    let (tenant, outcome) = tenants::upsert_tenant(&app.store, &id, &named, &audit, now)
        .await
        .unwrap();
    assert!(matches!(outcome, UpsertOutcome::Updated));
    assert_eq!(tenant.name.as_deref(), Some("Acme"));

    assert!(matches!(
        tenants::get_tenant(&app.store, &only("globex"), &id).await,
        Err(TenantError::NotFound)
    ));
    assert_eq!(
        tenants::get_tenant(&app.store, &only("acme"), &id)
            .await
            .unwrap(),
        tenant
    );
    let missing = TenantId::parse("globex").unwrap();
    assert!(matches!(
        tenants::delete_tenant(&app.store, &missing, &audit, now).await,
        Err(TenantError::NotFound)
    ));
    tenants::delete_tenant(&app.store, &id, &audit, now)
        .await
        .unwrap();
    assert!(matches!(
        tenants::get_tenant(&app.store, &TenantScope::All, &id).await,
        Err(TenantError::NotFound)
    ));
}

async fn audit_listing_is_scoped(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_client("acme", json!({})).await;
    app.put_tenant("globex", json!({})).await;
    let acme = audit::list_events(&app.store, &only("acme"), &Default::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(acme.len(), 2, "{acme:?}");
    assert!(acme
        .iter()
        .all(|event| event.tenant_id == Some(TenantId::parse("acme").unwrap())));
    assert_eq!(acme[0].action, "oauth_client.created", "newest first");
    let older = audit::list_events(
        &app.store,
        &only("acme"),
        &Default::default(),
        Some(acme[0].id),
        10,
    )
    .await
    .unwrap();
    assert_eq!(older, acme[1..]);
    let everything =
        audit::list_events(&app.store, &TenantScope::All, &Default::default(), None, 10)
            .await
            .unwrap();
    let globex = Some(TenantId::parse("globex").unwrap());
    assert!(everything.iter().any(|event| event.tenant_id == globex));
    assert!(acme.iter().all(|event| everything.contains(event)));
}
