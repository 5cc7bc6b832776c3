//! The admin commands of the `tessera` CLI — `tenants`, `clients`, `secrets`, `users`,
//! `members` — for scripted set-up without curl. They call the same services as the
//! REST API, with the global admin's rights and `cli` as the audit actor, and build each
//! request as the API's JSON body so the API's validation (and its messages) apply
//! unchanged. A running server learns of each change from the database's change feed,
//! as of any other process's.
//!
//! Output is human-readable by default (a `field: value` list, or a table for lists);
//! `--json` prints exactly the API's JSON for the same operation, one document per
//! command. A new client's or secret's secret is printed once, like the API shows it.
//! A user's password is read from standard input (`--password-stdin`), never from the
//! command line, where `ps` and shell histories would keep it.

use std::io::BufRead;

use anyhow::{anyhow, bail, Context};
use chrono::Utc;
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::audit::AuditContext;
use crate::clients::secrets::{parse_expiration, SecretHasher, SecretName};
use crate::clients::{
    self, ClientDraft, ClientId, ClientPolicy, ClientPosition, CreateClientError, RequestedSecret,
};
use crate::config::Settings;
use crate::http::views::{
    ClientResponse, CreatedResponse, MemberResponse, SecretResponse, TenantResponse, UserResponse,
};
use crate::ids::TenantScope;
use crate::keys::KeyService;
use crate::store::Store;
use crate::tenants::{self, TenantChanges, TenantId};
use crate::users::{self, MemberDraft, UserDraft, UserId, UserPosition};

/// Rows read per page when a command lists everything.
const PAGE: u32 = 200;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create, change, read or delete tenants.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Create, list, read or delete OAuth clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Add or delete a client's named secrets.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Create, list or disable users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Put users in tenants with roles, or take them out.
    #[command(subcommand)]
    Members(MembersCommand),
}

#[derive(Subcommand)]
pub enum TenantsCommand {
    /// Create the tenant, or change its name.
    Put {
        id: String,
        #[arg(long)]
        name: Option<String>,
    },
    Get {
        id: String,
    },
    /// Delete the tenant and everything in it (clients, memberships, sessions).
    Delete {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Create a client; a CONFIDENTIAL one's secret is printed once.
    Create(Box<CreateClient>),
    List {
        /// Only this tenant's clients.
        #[arg(long)]
        tenant: Option<String>,
    },
    Get {
        id: String,
    },
    /// Delete the client and its secrets.
    Delete {
        id: String,
    },
}

/// Seed 002's fields; `--body` takes the API's whole JSON body instead.
#[derive(Args)]
pub struct CreateClient {
    #[arg(long, required_unless_present = "body")]
    tenant: Option<String>,
    #[arg(long, required_unless_present = "body")]
    name: Option<String>,
    #[arg(long, required_unless_present = "body")]
    description: Option<String>,
    /// CLIENT_CREDENTIALS, AUTHORIZATION_CODE or REFRESH_TOKEN; repeat for several.
    #[arg(long = "grant-type", default_value = "CLIENT_CREDENTIALS")]
    grant_types: Vec<String>,
    /// Repeat for several.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Repeat for several.
    #[arg(long = "scope")]
    allowed_scopes: Vec<String>,
    /// ONLINE or OFFLINE (refresh tokens).
    #[arg(long, default_value = "ONLINE")]
    access_type: String,
    /// CONFIDENTIAL (a secret) or PUBLIC (PKCE only).
    #[arg(long = "type", default_value = "CONFIDENTIAL")]
    client_type: String,
    #[arg(long, default_value_t = 900)]
    access_token_validity_seconds: u32,
    #[arg(long)]
    refresh_token_validity_seconds: Option<u32>,
    /// A first-party client (the token API).
    #[arg(long)]
    internal: bool,
    /// Create it disabled.
    #[arg(long)]
    disabled: bool,
    /// The API's JSON body, from a file or `-` (standard input); no other field flag.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["tenant", "name"])]
    body: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Add a named secret to a client; the secret is printed once.
    Add {
        client_id: String,
        #[arg(long)]
        name: String,
        /// When it stops working: an RFC 3339 instant (as the API takes it).
        #[arg(long)]
        expiration: Option<String>,
    },
    Delete {
        client_id: String,
        secret_id: i64,
    },
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a user; the password is the first line of standard input.
    Create {
        username: String,
        /// Read the password from standard input (required: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        default_tenant: Option<String>,
    },
    List {
        /// Only members of this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Disable a user: its sessions end on every server.
    Disable { id: String },
}

#[derive(Subcommand)]
pub enum MembersCommand {
    /// Make the user a member of the tenant with these roles (or give it these roles).
    Put {
        tenant: String,
        user_id: String,
        /// member or admin; repeat for both.
        #[arg(long = "role", default_value = "member")]
        roles: Vec<String>,
    },
    /// End the membership, and the user's sessions in the tenant.
    Delete { tenant: String, user_id: String },
}

/// How a command prints what it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Human,
    Json,
}

/// Runs `command` against the configured database.
pub async fn run(settings: Settings, command: AdminCommand, output: Output) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database).await?;
    if settings.database.migrate_on_start {
        store.migrate().await?;
    }
    let audit = AuditContext::cli();
    let admin = Admin {
        store,
        settings,
        audit,
        output,
    };
    match command {
        AdminCommand::Tenants(command) => admin.tenants(command).await,
        AdminCommand::Clients(command) => admin.clients(command).await,
        AdminCommand::Secrets(command) => admin.secrets(command).await,
        AdminCommand::Users(command) => admin.users(command).await,
        AdminCommand::Members(command) => admin.members(command).await,
    }
}

struct Admin {
    store: Store,
    settings: Settings,
    audit: AuditContext,
    output: Output,
}

impl Admin {
    async fn tenants(&self, command: TenantsCommand) -> anyhow::Result<()> {
        let now = Utc::now();
        match command {
            TenantsCommand::Put { id, name } => {
                let id = parse_id(TenantId::parse(&id), "tenant id")?;
                let mut body = Map::new();
                if let Some(name) = name {
                    body.insert("name".into(), name.into());
                }
                let changes: TenantChanges = from_body(body)?;
                let (tenant, _) =
                    tenants::upsert_tenant(&self.store, &id, &changes, &self.audit, now)
                        .await
                        .map_err(|error| match error {
                            tenants::UpsertTenantError::Invalid(problems) => invalid(problems),
                            tenants::UpsertTenantError::Unexpected(error) => error,
                        })?;
                self.show(&TenantResponse::from(tenant))
            }
            TenantsCommand::Get { id } => {
                let id = parse_id(TenantId::parse(&id), "tenant id")?;
                let tenant = tenants::get_tenant(&self.store, &TenantScope::All, &id)
                    .await
                    .map_err(|error| tenant_error(error, &id))?;
                self.show(&TenantResponse::from(tenant))
            }
            TenantsCommand::Delete { id } => {
                let id = parse_id(TenantId::parse(&id), "tenant id")?;
                tenants::delete_tenant(&self.store, &id, &self.audit, now)
                    .await
                    .map_err(|error| tenant_error(error, &id))?;
                self.done(&format!("tenant {id} deleted"), json!({"deleted": id}))
            }
        }
    }

    async fn clients(&self, command: ClientsCommand) -> anyhow::Result<()> {
        match command {
            ClientsCommand::Create(create) => self.create_client(create).await,
            ClientsCommand::List { tenant } => {
                let scope = tenant_scope(tenant)?;
                let all =
                    every_page(ClientPosition::of, |after| {
                        let (store, scope) = (&self.store, &scope);
                        async move {
                            clients::list_clients(store, scope, None, after.as_ref(), PAGE).await
                        }
                    })
                    .await?;
                let all: Vec<ClientResponse> = all.into_iter().map(ClientResponse::from).collect();
                self.table(
                    &all,
                    &["id", "tenantId", "name", "type", "enabled", "grantTypes"],
                )
            }
            ClientsCommand::Get { id } => {
                let id = parse_id(ClientId::parse(&id), "client id")?;
                let client = clients::get_client(&self.store, &TenantScope::All, &id)
                    .await
                    .map_err(|error| client_error(error, &id))?;
                self.show(&ClientResponse::from(client))
            }
            ClientsCommand::Delete { id } => {
                let id = parse_id(ClientId::parse(&id), "client id")?;
                clients::delete_client(
                    &self.store,
                    &TenantScope::All,
                    &id,
                    &self.audit,
                    Utc::now(),
                )
                .await
                .map_err(|error| client_error(error, &id))?;
                self.done(&format!("client {id} deleted"), json!({"deleted": id}))
            }
        }
    }

    async fn create_client(&self, create: Box<CreateClient>) -> anyhow::Result<()> {
        let mut body = match &create.body {
            Some(path) => read_body(path)?,
            None => create_body(&create),
        };
        let tenant = match body.remove("tenantId") {
            Some(Value::String(raw)) => parse_id(TenantId::parse(&raw), "tenantId")?,
            _ => bail!("tenantId: is required (a tenant's id)"),
        };
        let draft: ClientDraft = from_body(body)?;
        let settings = draft.validate().map_err(invalid)?;
        let created = clients::create_client(
            &self.store,
            &self.client_policy().await?,
            tenant,
            settings,
            &self.audit,
            Utc::now(),
        )
        .await
        .map_err(|error| match error {
            CreateClientError::TenantMissing(tenant) => anyhow!("no tenant '{tenant}'"),
            CreateClientError::TooMany(max) => anyhow!(
                "the tenant has {max} OAuth clients, the most it may have \
                 (limits.clients_per_tenant); delete one first"
            ),
            CreateClientError::Unexpected(error) => error,
        })?;
        if self.output == Output::Human && created.secret.is_some() {
            eprintln!("The client's secret is shown this once: keep it now.");
        }
        self.show(&CreatedResponse::from(created))
    }

    async fn secrets(&self, command: SecretsCommand) -> anyhow::Result<()> {
        let now = Utc::now();
        match command {
            SecretsCommand::Add {
                client_id,
                name,
                expiration,
            } => {
                let id = parse_id(ClientId::parse(&client_id), "client id")?;
                let name = SecretName::parse(&name).map_err(|problem| anyhow!("{problem}"))?;
                let expires_at = expiration
                    .as_deref()
                    .map(|raw| parse_expiration(raw, now))
                    .transpose()
                    .map_err(|problem| anyhow!("{problem}"))?;
                let (stored, secret) = clients::add_secret(
                    &self.store,
                    &self.client_policy().await?,
                    &TenantScope::All,
                    &id,
                    RequestedSecret { name, expires_at },
                    &self.audit,
                    now,
                )
                .await
                .map_err(|error| match error {
                    clients::AddSecretError::ClientMissing => anyhow!("no client '{id}'"),
                    clients::AddSecretError::PublicClient => {
                        anyhow!("a PUBLIC client has no secrets: it uses PKCE")
                    }
                    clients::AddSecretError::DuplicateName(name) => {
                        anyhow!("the client already has a secret named '{name}'")
                    }
                    clients::AddSecretError::TooMany(max) => anyhow!(
                        "the client has {max} secrets, the most it may have \
                         (limits.secrets_per_client); delete one first"
                    ),
                    clients::AddSecretError::Unexpected(error) => error,
                })?;
                if self.output == Output::Human {
                    eprintln!("The secret (token) is shown this once: keep it now.");
                }
                self.show(&SecretResponse::created(stored, &secret))
            }
            SecretsCommand::Delete {
                client_id,
                secret_id,
            } => {
                let id = parse_id(ClientId::parse(&client_id), "client id")?;
                clients::delete_secret(
                    &self.store,
                    &TenantScope::All,
                    &id,
                    secret_id,
                    &self.audit,
                    now,
                )
                .await
                .map_err(|error| match error {
                    clients::DeleteSecretError::ClientMissing => anyhow!("no client '{id}'"),
                    clients::DeleteSecretError::SecretMissing => {
                        anyhow!("client '{id}' has no secret {secret_id}")
                    }
                    clients::DeleteSecretError::Unexpected(error) => error,
                })?;
                self.done(
                    &format!("secret {secret_id} of client {id} deleted"),
                    json!({"deleted": secret_id, "clientId": id}),
                )
            }
        }
    }

    async fn users(&self, command: UsersCommand) -> anyhow::Result<()> {
        let now = Utc::now();
        match command {
            UsersCommand::Create {
                username,
                password_stdin: _,
                display_name,
                email,
                default_tenant,
            } => {
                let mut body = json!({"username": username, "password": read_password()?});
                for (field, value) in [
                    ("displayName", display_name),
                    ("email", email),
                    ("defaultTenantId", default_tenant),
                ] {
                    if let Some(value) = value {
                        body[field] = value.into();
                    }
                }
                let draft: UserDraft = from_body(body.as_object().cloned().unwrap_or_default())?;
                let new = draft.for_creation().map_err(invalid)?;
                let user = users::create_user(&self.store, new, &self.audit, now)
                    .await
                    .map_err(|error| match error {
                        users::CreateUserError::UsernameTaken => anyhow!(
                            "a user with this username exists already (usernames ignore case)"
                        ),
                        users::CreateUserError::DefaultTenantMissing(tenant) => {
                            anyhow!("defaultTenantId: no tenant '{tenant}'")
                        }
                        users::CreateUserError::Unexpected(error) => error,
                    })?;
                self.show(&UserResponse::from(user))
            }
            UsersCommand::List { tenant } => {
                let scope = tenant_scope(tenant)?;
                let all = every_page(UserPosition::of_user, |after| {
                    let (store, scope) = (&self.store, &scope);
                    async move { users::list_users(store, scope, after.as_ref(), PAGE).await }
                })
                .await?;
                let all: Vec<UserResponse> = all.into_iter().map(UserResponse::from).collect();
                self.table(
                    &all,
                    &[
                        "id",
                        "username",
                        "enabled",
                        "displayName",
                        "defaultTenantId",
                    ],
                )
            }
            UsersCommand::Disable { id } => {
                let id = parse_id(UserId::parse(&id), "user id")?;
                let draft: UserDraft = from_body(json_object(json!({"enabled": false})))?;
                let changes = draft.for_update().map_err(invalid)?;
                let user = users::update_user(&self.store, &id, changes, &self.audit, now)
                    .await
                    .map_err(|error| match error {
                        users::UpdateUserError::NotFound => anyhow!("no user '{id}'"),
                        users::UpdateUserError::DefaultTenantMissing(tenant) => {
                            anyhow!("defaultTenantId: no tenant '{tenant}'")
                        }
                        users::UpdateUserError::Unexpected(error) => error,
                    })?;
                self.show(&UserResponse::from(user))
            }
        }
    }

    async fn members(&self, command: MembersCommand) -> anyhow::Result<()> {
        let now = Utc::now();
        match command {
            MembersCommand::Put {
                tenant,
                user_id,
                roles,
            } => {
                let tenant = parse_id(TenantId::parse(&tenant), "tenant id")?;
                let user = parse_id(UserId::parse(&user_id), "user id")?;
                let draft: MemberDraft = from_body(json_object(json!({"roles": roles})))?;
                let roles = draft.roles().map_err(invalid)?;
                let (member, _) = users::put_member(
                    &self.store,
                    &TenantScope::All,
                    &tenant,
                    &user,
                    roles,
                    &self.audit,
                    now,
                )
                .await
                .map_err(|error| member_error(error, &tenant, &user))?;
                self.show(&MemberResponse::from(member))
            }
            MembersCommand::Delete { tenant, user_id } => {
                let tenant = parse_id(TenantId::parse(&tenant), "tenant id")?;
                let user = parse_id(UserId::parse(&user_id), "user id")?;
                users::delete_member(
                    &self.store,
                    &TenantScope::All,
                    &tenant,
                    &user,
                    &self.audit,
                    now,
                )
                .await
                .map_err(|error| member_error(error, &tenant, &user))?;
                self.done(
                    &format!("user {user} is no longer a member of {tenant}"),
                    json!({"deleted": {"tenantId": tenant, "userId": user}}),
                )
            }
        }
    }

    /// Client secrets are hashed with a key derived from the master key, as the server
    /// hashes them: the signing keys must be readable.
    async fn client_policy(&self) -> anyhow::Result<ClientPolicy> {
        let keys =
            KeyService::start(self.store.clone(), &self.settings.signing, Utc::now()).await?;
        Ok(ClientPolicy {
            hasher: SecretHasher::from_keys(&keys),
            limits: self.settings.limits,
        })
    }

    /// One resource: its API JSON, or its fields a line each.
    fn show<T: Serialize>(&self, view: &T) -> anyhow::Result<()> {
        let value = serde_json::to_value(view)?;
        match self.output {
            Output::Json => println!("{}", serde_json::to_string_pretty(&value)?),
            Output::Human => {
                let Value::Object(fields) = &value else {
                    bail!("not an object");
                };
                let width = fields.keys().map(String::len).max().unwrap_or(0);
                // The id first, then the rest by name.
                let (ids, rest): (Vec<_>, Vec<_>) =
                    fields.iter().partition(|(name, _)| name.as_str() == "id");
                for (name, field) in ids.into_iter().chain(rest) {
                    println!("{name:<width$}  {}", cell(field));
                }
            }
        }
        Ok(())
    }

    /// Many resources: a JSON array, or a table of `columns`.
    fn table<T: Serialize>(&self, views: &[T], columns: &[&str]) -> anyhow::Result<()> {
        let rows: Vec<Value> = views
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?;
        if self.output == Output::Json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(());
        }
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|row| columns.iter().map(|column| cell(&row[*column])).collect())
            .collect();
        let widths: Vec<usize> = columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                cells
                    .iter()
                    .map(|row| row[i].len())
                    .chain([column.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |values: Vec<String>| {
            let padded: Vec<String> = values
                .iter()
                .zip(&widths)
                .map(|(value, width)| format!("{value:<width$}"))
                .collect();
            println!("{}", padded.join("  ").trim_end());
        };
        line(columns.iter().map(|column| column.to_uppercase()).collect());
        for row in cells {
            line(row);
        }
        if rows.is_empty() {
            println!("(none)");
        }
        Ok(())
    }

    /// A command that leaves nothing to show.
    fn done(&self, message: &str, document: Value) -> anyhow::Result<()> {
        match self.output {
            Output::Json => println!("{document}"),
            Output::Human => println!("{message}"),
        }
        Ok(())
    }
}

/// Every row of a listing read [`PAGE`] at a time, each page after the last row of the
/// one before, until a page comes back short.
async fn every_page<R, P, F, Fut>(position: impl Fn(&R) -> P, mut page: F) -> anyhow::Result<Vec<R>>
where
    F: FnMut(Option<P>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Vec<R>>>,
{
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let rows = page(after).await?;
        let full = rows.len() == PAGE as usize;
        after = rows.last().map(&position);
        all.extend(rows);
        if !full {
            return Ok(all);
        }
    }
}

/// Every tenant, or the one named.
fn tenant_scope(tenant: Option<String>) -> anyhow::Result<TenantScope> {
    Ok(match tenant {
        Some(tenant) => TenantScope::Only(parse_id(TenantId::parse(&tenant), "tenant id")?),
        None => TenantScope::All,
    })
}

/// A JSON value as one table cell.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The API's body for `create`'s flags, field names as seed 002 has them.
fn create_body(create: &CreateClient) -> Map<String, Value> {
    let mut body = json_object(json!({
        "tenantId": create.tenant,
        "name": create.name,
        "description": create.description,
        "grantTypes": create.grant_types,
        "redirectUris": create.redirect_uris,
        "accessType": create.access_type,
        "type": create.client_type,
        "accessTokenValiditySeconds": create.access_token_validity_seconds,
        "internal": create.internal,
        "enabled": !create.disabled,
    }));
    if let Some(seconds) = create.refresh_token_validity_seconds {
        body.insert("refreshTokenValiditySeconds".into(), seconds.into());
    }
    if !create.allowed_scopes.is_empty() {
        body.insert("allowedScopes".into(), json!(create.allowed_scopes));
    }
    body
}

fn json_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(object) => object,
        _ => Map::new(),
    }
}

fn read_body(path: &std::path::Path) -> anyhow::Result<Map<String, Value>> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    match serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))? {
        Value::Object(object) => Ok(object),
        _ => bail!("{}: the body must be a JSON object", path.display()),
    }
}

/// A draft from the API's JSON body: the same deserialisation, so the same messages.
fn from_body<T: serde::de::DeserializeOwned>(body: Map<String, Value>) -> anyhow::Result<T> {
    serde_path_to_error::deserialize(Value::Object(body))
        .map_err(|error| anyhow!("{}: {}", error.path(), error.inner()))
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input (--password-stdin reads its first line)");
    }
    Ok(password)
}

fn parse_id<T>(parsed: Result<T, String>, what: &str) -> anyhow::Result<T> {
    parsed.map_err(|problem| anyhow!("{what}: {problem}"))
}

fn invalid(problems: Vec<String>) -> anyhow::Error {
    anyhow!("invalid: {}", problems.join("; "))
}

fn tenant_error(error: tenants::TenantError, id: &TenantId) -> anyhow::Error {
    match error {
        tenants::TenantError::NotFound => anyhow!("no tenant '{id}'"),
        tenants::TenantError::Unexpected(error) => error,
    }
}

fn client_error(error: clients::ClientError, id: &ClientId) -> anyhow::Error {
    match error {
        clients::ClientError::NotFound => anyhow!("no client '{id}'"),
        clients::ClientError::Unexpected(error) => error,
    }
}

fn member_error(error: users::MemberError, tenant: &TenantId, user: &UserId) -> anyhow::Error {
    match error {
        users::MemberError::TenantMissing => anyhow!("no tenant '{tenant}'"),
        users::MemberError::UserMissing => anyhow!("no user '{user}'"),
        users::MemberError::NotMember => anyhow!("user '{user}' is not a member of '{tenant}'"),
        users::MemberError::Unexpected(error) => error,
    }
}
