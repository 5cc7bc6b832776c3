//! A client as written, before validation: what a creation sends, or a stored client
//! with an update's changes laid over it. [`ClientDraft::validate`] reports every
//! problem at once, each prefixed with the JSON field it concerns.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::Value;

use crate::patch::Patch;

use super::*;

/// Declares [`ClientDraft`] from one list of the writable fields: each is a
/// [`Patch`], so one type serves a creation body, an update body and the stored client
/// seen as a draft.
macro_rules! client_draft {
    ($($(#[$attr:meta])* $field:ident: $type:ty,)+) => {
        /// Every writable field of a client, unvalidated, as the API spells them. In a
        /// creation `null` and absent both mean "not given"; in an update absent keeps
        /// the stored value and `null` clears it.
        ///
        /// As a schema it is an update's body (every field optional); a creation's is
        /// the same with [`REQUIRED_ON_CREATION`] required and `tenantId`.
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        #[schema(as = OAuthClientChanges, example = json!({
            "name": "Demo API Client",
            "description": "An API client used for the authorization_code and refresh_token flows",
            "enabled": false
        }))]
        pub struct ClientDraft {
            $($(#[$attr])* #[serde(default)] pub $field: Patch<$type>,)+
        }

        impl ClientDraft {
            /// These changes laid over `base`.
            pub fn over(self, base: ClientDraft) -> ClientDraft {
                ClientDraft { $($field: self.$field.over(base.$field),)+ }
            }
        }
    };
}

// The schemas below state what `validate` checks field by field; `null` is allowed where
// it is not a missing required field. The rules across fields are in the descriptions.
client_draft! {
    /// A human-readable name: 1 to 256 characters, not blank.
    #[schema(value_type = String, min_length = 1, max_length = 256, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$",
        example = "Demo API Client")]
    name: String,
    /// 1 to 2048 characters, not blank.
    #[schema(value_type = String, min_length = 1, max_length = 2048, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$",
        example = "An API client used for the authorization_code, refresh_token, and client_credentials flows")]
    description: String,
    /// The business the client belongs to: 1 to 256 characters, not blank.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 256, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$",
        example = "Acme-Solar")]
    business_name: String,
    /// An absolute http or https URL of at most 2048 characters.
    #[schema(value_type = Option<String>, format = "uri", max_length = 2048, pattern = r"^https?://[A-Za-z][A-Za-z0-9-]*(\.[A-Za-z][A-Za-z0-9-]*)*(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[A-Za-z0-9._~!$&'()+,;=:@/-]*)?$",
        example = "http://localhost:12345")]
    homepage_url: String,
    /// Seconds an access token lives: 1 to 86400 (a numeric string is accepted too).
    #[schema(value_type = u32, minimum = 1, maximum = 86400, example = 750)]
    access_token_validity_seconds: Value,
    /// Seconds a refresh token lives: 1 to 31536000 (a numeric string is accepted
    /// too); 86400 when not given.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 31536000, example = 86400)]
    refresh_token_validity_seconds: Value,
    /// Where the authorization endpoint may send the user back: at most 32, each an
    /// https URI (http only for 127.0.0.1, [::1] or localhost) of at most 2048
    /// characters without fragment, user information or wildcard. At least one is
    /// required with `AUTHORIZATION_CODE`.
    #[schema(schema_with = redirect_uris_schema, example = json!(["http://localhost:12345"]))]
    redirect_uris: Vec<String>,
    /// The grants the client may use, each once. `REFRESH_TOKEN` needs
    /// `AUTHORIZATION_CODE`; a `PUBLIC` client cannot use `CLIENT_CREDENTIALS`; only an
    /// `internal` client may name none.
    #[schema(schema_with = grant_types_schema,
        example = json!(["AUTHORIZATION_CODE", "CLIENT_CREDENTIALS", "REFRESH_TOKEN"]))]
    grant_types: Vec<String>,
    #[schema(value_type = AccessType)]
    access_type: String,
    /// Fixed when the client is created; `CONFIDENTIAL` when not given.
    #[serde(rename = "type")]
    #[schema(value_type = Option<ClientType>)]
    client_type: String,
    /// Whether the client may serve the token API alone (`false` when not given).
    #[schema(value_type = Option<bool>, example = false)]
    internal: bool,
    #[schema(value_type = bool, example = true)]
    enabled: bool,
    #[schema(value_type = Option<bool>, example = false)]
    strong_auth_supported: bool,
    #[schema(value_type = Option<bool>, example = false)]
    claims_supported: bool,
    /// The scope tokens the client may be granted: at most 64, each once.
    #[schema(schema_with = allowed_scopes_schema, example = json!(["hubster-portal-api"]))]
    allowed_scopes: Vec<String>,
    /// Claims put into every token of the client: at most 64, each `type` once and
    /// none of the claims Tessera sets itself (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`,
    /// `jti`, `client_id`, `scope`, `tid`, `sid`, `auth_time`).
    #[schema(value_type = Option<Vec<Claim>>, max_items = 64,
        example = json!([{"type": "role", "value": "admin"}]))]
    claims: Vec<Claim>,
}

/// A list of `T`s, each once: the lists `validate` reads with `Problems::list`. Items
/// are inlined, the list types being the draft's own.
fn unique_list<T: utoipa::PartialSchema>(
    min: usize,
    max: usize,
    nullable: bool,
) -> utoipa::openapi::schema::ArrayBuilder {
    use utoipa::openapi::schema::{ArrayBuilder, SchemaType, Type};
    let types = if nullable {
        SchemaType::from_iter([Type::Array, Type::Null])
    } else {
        SchemaType::new(Type::Array)
    };
    ArrayBuilder::new()
        .schema_type(types)
        .items(T::schema())
        .min_items(Some(min))
        .max_items(Some(max))
        .unique_items(true)
}

fn redirect_uris_schema() -> utoipa::openapi::schema::ArrayBuilder {
    unique_list::<RedirectUri>(0, MAX_REDIRECT_URIS, true)
}

fn grant_types_schema() -> utoipa::openapi::schema::ArrayBuilder {
    unique_list::<GrantType>(1, GrantType::ALL.len(), false)
}

fn allowed_scopes_schema() -> utoipa::openapi::schema::ArrayBuilder {
    unique_list::<ScopeToken>(0, MAX_SCOPES, true)
}

/// The fields a creation must give (a missing one is a problem of `validate`); an
/// update may leave any out.
pub const REQUIRED_ON_CREATION: [&str; 6] = [
    "name",
    "description",
    "accessTokenValiditySeconds",
    "grantTypes",
    "accessType",
    "enabled",
];

impl From<&ClientSettings> for ClientDraft {
    /// The stored client as a draft: its API form read back, so what `GET` shows is
    /// exactly what an update starts from.
    fn from(settings: &ClientSettings) -> Self {
        serde_json::to_value(settings)
            .and_then(serde_json::from_value)
            .expect("a client's API form reads back as a draft")
    }
}

/// Collects problems while fields are validated one by one.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, field: &str, problem: impl fmt::Display) {
        self.0.push(format!("{field}: {problem}"));
    }

    fn required<T: Clone>(&mut self, field: &str, value: &Patch<T>) -> Option<T> {
        if value.value().is_none() {
            self.add(field, "is required");
        }
        value.value().cloned()
    }

    fn text(&mut self, field: &str, value: Option<&String>, max: usize) -> Option<String> {
        let value = value?;
        if value.trim().is_empty() {
            self.add(field, "must not be blank");
        } else if value.chars().count() > max {
            self.add(field, format!("at most {max} characters"));
        }
        Some(value.clone())
    }

    fn seconds(&mut self, field: &str, value: Option<&Value>, max: u32) -> Option<u32> {
        let seconds = match value? {
            Value::Number(number) => number.as_u64(),
            Value::String(text) => text.trim().parse::<u64>().ok(),
            _ => None,
        };
        match seconds {
            Some(seconds @ 1..) if seconds <= u64::from(max) => u32::try_from(seconds).ok(),
            _ => {
                self.add(
                    field,
                    format!(
                        "a whole number of seconds from 1 to {max} (a number or a numeric string)"
                    ),
                );
                None
            }
        }
    }

    /// Each item parsed; duplicates and parse failures reported by index.
    fn list<T: Eq + std::hash::Hash + Clone>(
        &mut self,
        field: &str,
        items: &[String],
        max: usize,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Vec<T> {
        if items.len() > max {
            self.add(field, format!("at most {max} entries"));
        }
        let mut seen = HashSet::new();
        let mut parsed = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match parse(item) {
                Ok(value) if !seen.insert(value.clone()) => self.add(
                    &format!("{field}[{index}]"),
                    format!("'{item}' is listed twice"),
                ),
                Ok(value) => parsed.push(value),
                Err(problem) => self.add(&format!("{field}[{index}]"), problem),
            }
        }
        parsed
    }
}

impl ClientDraft {
    /// The settings this draft describes, or every problem with it.
    pub fn validate(&self) -> Result<ClientSettings, Vec<String>> {
        let mut problems = Problems::default();
        let name = problems.required("name", &self.name);
        let name = problems.text("name", name.as_ref(), MAX_NAME_LEN);
        let description = problems.required("description", &self.description);
        let description = problems.text("description", description.as_ref(), MAX_DESCRIPTION_LEN);
        let business_name = problems.text("businessName", self.business_name.value(), MAX_NAME_LEN);
        if let Some(url) = self.homepage_url.value() {
            let valid = url.len() <= MAX_URL_LEN
                && url::Url::parse(url).is_ok_and(|url| matches!(url.scheme(), "https" | "http"));
            if !valid {
                problems.add(
                    "homepageUrl",
                    format!("an absolute http or https URL of at most {MAX_URL_LEN} characters"),
                );
            }
        }
        let access = problems.required(
            "accessTokenValiditySeconds",
            &self.access_token_validity_seconds,
        );
        let access = problems.seconds(
            "accessTokenValiditySeconds",
            access.as_ref(),
            MAX_ACCESS_TOKEN_VALIDITY_SECONDS,
        );
        let refresh = match self.refresh_token_validity_seconds.value() {
            Some(value) => problems.seconds(
                "refreshTokenValiditySeconds",
                Some(value),
                MAX_REFRESH_TOKEN_VALIDITY_SECONDS,
            ),
            None => Some(DEFAULT_REFRESH_TOKEN_VALIDITY_SECONDS),
        };

        let client_type = match self.client_type.value() {
            Some(raw) => ClientType::parse(raw)
                .map_err(|problem| problems.add("type", problem))
                .ok(),
            None => Some(ClientType::Confidential),
        };
        let grant_types = problems
            .required("grantTypes", &self.grant_types)
            .map(|raw| {
                // An internal client may serve the token API alone (no OAuth grant).
                if raw.is_empty() && self.internal.value() != Some(&true) {
                    problems.add("grantTypes", "name at least one grant type");
                }
                problems.list("grantTypes", &raw, GrantType::ALL.len(), GrantType::parse)
            });
        if let Some(grants) = &grant_types {
            if grants.contains(&GrantType::RefreshToken)
                && !grants.contains(&GrantType::AuthorizationCode)
            {
                problems.add("grantTypes", "REFRESH_TOKEN needs AUTHORIZATION_CODE");
            }
            if client_type == Some(ClientType::Public)
                && grants.contains(&GrantType::ClientCredentials)
            {
                problems.add(
                    "grantTypes",
                    "a PUBLIC client has no secret, so it cannot use CLIENT_CREDENTIALS",
                );
            }
        }
        let redirect_uris = problems.list(
            "redirectUris",
            self.redirect_uris.value().map_or(&[][..], Vec::as_slice),
            MAX_REDIRECT_URIS,
            RedirectUri::parse,
        );
        let needs_redirect = grant_types
            .as_ref()
            .is_some_and(|grants| grants.contains(&GrantType::AuthorizationCode));
        if needs_redirect && self.redirect_uris.value().is_none_or(Vec::is_empty) {
            problems.add(
                "redirectUris",
                "at least one is required with AUTHORIZATION_CODE",
            );
        }
        let access_type = problems
            .required("accessType", &self.access_type)
            .and_then(|raw| {
                AccessType::parse(&raw)
                    .map_err(|problem| problems.add("accessType", problem))
                    .ok()
            });
        let enabled = problems.required("enabled", &self.enabled);
        let allowed_scopes = problems.list(
            "allowedScopes",
            self.allowed_scopes.value().map_or(&[][..], Vec::as_slice),
            MAX_SCOPES,
            ScopeToken::parse,
        );
        let claims = self.claims.value().cloned().unwrap_or_default();
        check_claims(&mut problems, &claims);

        match (
            name,
            description,
            access,
            refresh,
            grant_types,
            access_type,
            client_type,
            enabled,
        ) {
            (
                Some(name),
                Some(description),
                Some(access_token_validity_seconds),
                Some(refresh_token_validity_seconds),
                Some(grant_types),
                Some(access_type),
                Some(client_type),
                Some(enabled),
            ) if problems.0.is_empty() => Ok(ClientSettings {
                name,
                description,
                business_name,
                homepage_url: self.homepage_url.value().cloned(),
                access_token_validity_seconds,
                refresh_token_validity_seconds,
                redirect_uris,
                grant_types,
                access_type,
                client_type,
                internal: self.internal.value().copied().unwrap_or(false),
                enabled,
                strong_auth_supported: self.strong_auth_supported.value().copied().unwrap_or(false),
                claims_supported: self.claims_supported.value().copied().unwrap_or(false),
                allowed_scopes,
                claims,
            }),
            _ => Err(problems.0),
        }
    }
}

fn check_claims(problems: &mut Problems, claims: &[Claim]) {
    if claims.len() > MAX_CLAIMS {
        problems.add("claims", format!("at most {MAX_CLAIMS} entries"));
    }
    let mut seen = HashSet::new();
    for (index, claim) in claims.iter().enumerate() {
        let field = format!("claims[{index}]");
        let claim_type = claim.claim_type.as_str();
        if claim_type.trim().is_empty() || claim_type.chars().count() > MAX_CLAIM_TYPE_LEN {
            problems.add(
                &field,
                format!("type has 1 to {MAX_CLAIM_TYPE_LEN} characters"),
            );
        } else if RESERVED_CLAIMS.contains(&claim_type) {
            problems.add(&field, format!("'{claim_type}' is set by Tessera itself"));
        }
        if claim.value.chars().count() > MAX_CLAIM_VALUE_LEN {
            problems.add(
                &field,
                format!("value has at most {MAX_CLAIM_VALUE_LEN} characters"),
            );
        }
        // A token carries one value per claim name.
        if !seen.insert(claim_type) {
            problems.add(&field, format!("the type '{claim_type}' is listed twice"));
        }
    }
}

impl ClientSettings {
    /// What an update may not do to a client, beyond what any client must satisfy.
    pub fn update_problems(&self, next: &ClientSettings) -> Vec<String> {
        let mut problems = Vec::new();
        if self.client_type != next.client_type {
            problems.push(
                "type: is fixed when the client is created (create a new client instead)"
                    .to_owned(),
            );
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn seed_example() -> ClientDraft {
        ClientDraft {
            business_name: Patch::Value("Acme-Solar".into()),
            homepage_url: Patch::Value("http://localhost:12345".into()),
            name: Patch::Value("Demo API Client".into()),
            description: Patch::Value("An API client".into()),
            access_token_validity_seconds: Patch::Value(json!(750)),
            refresh_token_validity_seconds: Patch::Value(json!("86400")),
            redirect_uris: Patch::Value(vec!["http://localhost:12345".into()]),
            grant_types: Patch::Value(vec![
                "AUTHORIZATION_CODE".into(),
                "CLIENT_CREDENTIALS".into(),
                "REFRESH_TOKEN".into(),
            ]),
            access_type: Patch::Value("OFFLINE".into()),
            client_type: Patch::Value("CONFIDENTIAL".into()),
            internal: Patch::Value(false),
            enabled: Patch::Value(true),
            strong_auth_supported: Patch::Value(false),
            claims_supported: Patch::Value(false),
            allowed_scopes: Patch::Absent,
            claims: Patch::Absent,
        }
    }

    #[test]
    fn the_seed_example_is_valid_and_round_trips() {
        let settings = seed_example().validate().unwrap();
        assert_eq!(settings.access_token_validity_seconds, 750);
        assert_eq!(settings.refresh_token_validity_seconds, 86_400);
        assert_eq!(ClientDraft::from(&settings).validate(), Ok(settings));
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let draft = ClientDraft {
            name: Patch::Value(" ".into()),
            access_token_validity_seconds: Patch::Value(json!("86401")),
            refresh_token_validity_seconds: Patch::Value(json!(1.5)),
            grant_types: Patch::Value(vec!["PASSWORD".into(), "AUTHORIZATION_CODE".into()]),
            redirect_uris: Patch::Value(vec!["http://example.com/cb".into()]),
            allowed_scopes: Patch::Value(vec!["a b".into(), "x".into(), "x".into()]),
            claims: Patch::Value(vec![Claim {
                claim_type: "sub".into(),
                value: "me".into(),
            }]),
            ..ClientDraft::default()
        };
        let problems = draft.validate().unwrap_err();
        for field in [
            "name:",
            "description:",
            "accessTokenValiditySeconds:",
            "refreshTokenValiditySeconds:",
            "grantTypes[0]:",
            "redirectUris[0]:",
            "accessType:",
            "enabled:",
            "allowedScopes[0]:",
            "allowedScopes[2]:",
            "claims[0]:",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(field)),
                "{field} in {problems:#?}"
            );
        }
    }

    #[test]
    fn changes_keep_absent_fields_and_clear_null_ones() {
        let base = seed_example();
        let changes = ClientDraft {
            name: Patch::Value("Renamed".into()),
            business_name: Patch::Null,
            ..ClientDraft::default()
        };
        let merged = changes.over(base.clone());
        assert_eq!(merged.name, Patch::Value("Renamed".into()));
        assert_eq!(merged.business_name, Patch::Null);
        assert_eq!(merged.description, base.description);
        assert_eq!(merged.validate().unwrap().business_name, None);
    }

    #[test]
    fn the_fields_required_on_creation_are_those_validate_requires() {
        let problems = ClientDraft::default().validate().unwrap_err();
        let required: Vec<&str> = problems
            .iter()
            .filter_map(|problem| problem.strip_suffix(": is required"))
            .collect();
        assert_eq!(required, REQUIRED_ON_CREATION);
    }

    #[test]
    fn public_clients_cannot_use_client_credentials() {
        let draft = ClientDraft {
            client_type: Patch::Value("PUBLIC".into()),
            ..seed_example()
        };
        let problems = draft.validate().unwrap_err();
        assert!(problems[0].contains("CLIENT_CREDENTIALS"), "{problems:?}");
    }
}
