//! The client credentials grant (RFC 6749 §4.4): a client's token for itself, with the
//! scopes it asks for among those it is allowed and the audiences of the resources it
//! names (RFC 8707).

use chrono::{DateTime, Utc};

use super::TokenResponse;
use crate::clients::AuthenticatedClient;
use crate::oauth::resource::audiences;
use crate::oauth::scope::grant_scopes;
use crate::oauth::server::{server_error, OAuthServer};
use crate::oauth::{Form, OAuthError};
use crate::tokens::access::issue_for_client;

#[derive(Debug)]
pub struct Request {
    scope: Option<String>,
    resources: Vec<String>,
}

impl Request {
    pub fn parse(form: &Form) -> Self {
        Request {
            scope: form.get("scope").map(str::to_owned),
            resources: form.all("resource").map(str::to_owned).collect(),
        }
    }
}

pub fn grant(
    server: &OAuthServer,
    caller: &AuthenticatedClient,
    request: Request,
    now: DateTime<Utc>,
) -> Result<TokenResponse, OAuthError> {
    let client = &caller.client;
    let scopes = grant_scopes(request.scope.as_deref(), &client.settings.allowed_scopes)?;
    let audiences = audiences(
        &request.resources,
        &server.resources,
        &server.default_audience,
    )?;
    let lifetime = server.access_token_lifetime(client);
    let issued = issue_for_client(
        &server.keys,
        &server.issuer,
        client,
        &scopes,
        &audiences,
        lifetime,
        now,
    )
    .map_err(server_error)?;
    Ok(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.scope,
        refresh_token: None,
    })
}
