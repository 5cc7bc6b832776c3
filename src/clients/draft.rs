//! A client as written, before validation: what a creation sends, or a stored client
//! with an update's changes laid over it. [`ClientDraft::validate`] reports every
//! problem at once, each prefixed with the JSON field it concerns.

use std::collections::HashSet;

use serde_json::Value;

use super::*;

/// Every writable field, unvalidated; `None` is "not given".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientDraft {
    pub name: Option<String>,
    pub description: Option<String>,
    pub business_name: Option<String>,
    pub homepage_url: Option<String>,
    /// A JSON number or a numeric string (seed 002 shows both).
    pub access_token_validity_seconds: Option<Value>,
    pub refresh_token_validity_seconds: Option<Value>,
    pub redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub access_type: Option<String>,
    pub client_type: Option<String>,
    pub internal: Option<bool>,
    pub enabled: Option<bool>,
    pub strong_auth_supported: Option<bool>,
    pub claims_supported: Option<bool>,
    pub allowed_scopes: Option<Vec<String>>,
    pub claims: Option<Vec<Claim>>,
}

/// What a request body changes: `None` keeps a field, `Some(None)` (JSON `null`)
/// clears it back to its default (or leaves a required field missing).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientChanges {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub business_name: Option<Option<String>>,
    pub homepage_url: Option<Option<String>>,
    pub access_token_validity_seconds: Option<Option<Value>>,
    pub refresh_token_validity_seconds: Option<Option<Value>>,
    pub redirect_uris: Option<Option<Vec<String>>>,
    pub grant_types: Option<Option<Vec<String>>>,
    pub access_type: Option<Option<String>>,
    pub client_type: Option<Option<String>>,
    pub internal: Option<Option<bool>>,
    pub enabled: Option<Option<bool>>,
    pub strong_auth_supported: Option<Option<bool>>,
    pub claims_supported: Option<Option<bool>>,
    pub allowed_scopes: Option<Option<Vec<String>>>,
    pub claims: Option<Option<Vec<Claim>>>,
}

impl ClientChanges {
    /// `base` with these changes laid over it.
    pub fn apply_to(self, base: ClientDraft) -> ClientDraft {
        fn pick<T>(change: Option<Option<T>>, base: Option<T>) -> Option<T> {
            change.unwrap_or(base)
        }
        ClientDraft {
            name: pick(self.name, base.name),
            description: pick(self.description, base.description),
            business_name: pick(self.business_name, base.business_name),
            homepage_url: pick(self.homepage_url, base.homepage_url),
            access_token_validity_seconds: pick(
                self.access_token_validity_seconds,
                base.access_token_validity_seconds,
            ),
            refresh_token_validity_seconds: pick(
                self.refresh_token_validity_seconds,
                base.refresh_token_validity_seconds,
            ),
            redirect_uris: pick(self.redirect_uris, base.redirect_uris),
            grant_types: pick(self.grant_types, base.grant_types),
            access_type: pick(self.access_type, base.access_type),
            client_type: pick(self.client_type, base.client_type),
            internal: pick(self.internal, base.internal),
            enabled: pick(self.enabled, base.enabled),
            strong_auth_supported: pick(self.strong_auth_supported, base.strong_auth_supported),
            claims_supported: pick(self.claims_supported, base.claims_supported),
            allowed_scopes: pick(self.allowed_scopes, base.allowed_scopes),
            claims: pick(self.claims, base.claims),
        }
    }
}

impl From<&ClientSettings> for ClientDraft {
    fn from(settings: &ClientSettings) -> Self {
        let texts = |items: &[String]| Some(items.to_vec());
        ClientDraft {
            name: Some(settings.name.clone()),
            description: Some(settings.description.clone()),
            business_name: settings.business_name.clone(),
            homepage_url: settings.homepage_url.clone(),
            access_token_validity_seconds: Some(settings.access_token_validity_seconds.into()),
            refresh_token_validity_seconds: Some(settings.refresh_token_validity_seconds.into()),
            redirect_uris: texts(
                &settings
                    .redirect_uris
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            ),
            grant_types: Some(
                settings
                    .grant_types
                    .iter()
                    .map(|grant| grant.as_str().to_owned())
                    .collect(),
            ),
            access_type: Some(settings.access_type.as_str().to_owned()),
            client_type: Some(settings.client_type.as_str().to_owned()),
            internal: Some(settings.internal),
            enabled: Some(settings.enabled),
            strong_auth_supported: Some(settings.strong_auth_supported),
            claims_supported: Some(settings.claims_supported),
            allowed_scopes: texts(
                &settings
                    .allowed_scopes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            ),
            claims: Some(settings.claims.clone()),
        }
    }
}

/// Collects problems while fields are validated one by one.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, field: &str, problem: impl fmt::Display) {
        self.0.push(format!("{field}: {problem}"));
    }

    fn required<T: Clone>(&mut self, field: &str, value: &Option<T>) -> Option<T> {
        if value.is_none() {
            self.add(field, "is required");
        }
        value.clone()
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
        let business_name =
            problems.text("businessName", self.business_name.as_ref(), MAX_NAME_LEN);
        if let Some(url) = &self.homepage_url {
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
        let refresh = match &self.refresh_token_validity_seconds {
            Some(value) => problems.seconds(
                "refreshTokenValiditySeconds",
                Some(value),
                MAX_REFRESH_TOKEN_VALIDITY_SECONDS,
            ),
            None => Some(DEFAULT_REFRESH_TOKEN_VALIDITY_SECONDS),
        };

        let client_type = match &self.client_type {
            Some(raw) => ClientType::parse(raw)
                .map_err(|problem| problems.add("type", problem))
                .ok(),
            None => Some(ClientType::Confidential),
        };
        let grant_types = problems
            .required("grantTypes", &self.grant_types)
            .map(|raw| {
                if raw.is_empty() {
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
            self.redirect_uris.as_deref().unwrap_or_default(),
            MAX_REDIRECT_URIS,
            RedirectUri::parse,
        );
        let needs_redirect = grant_types
            .as_ref()
            .is_some_and(|grants| grants.contains(&GrantType::AuthorizationCode));
        if needs_redirect && self.redirect_uris.as_ref().is_none_or(Vec::is_empty) {
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
            self.allowed_scopes.as_deref().unwrap_or_default(),
            MAX_SCOPES,
            ScopeToken::parse,
        );
        let claims = self.claims.clone().unwrap_or_default();
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
                homepage_url: self.homepage_url.clone(),
                access_token_validity_seconds,
                refresh_token_validity_seconds,
                redirect_uris,
                grant_types,
                access_type,
                client_type,
                internal: self.internal.unwrap_or(false),
                enabled,
                strong_auth_supported: self.strong_auth_supported.unwrap_or(false),
                claims_supported: self.claims_supported.unwrap_or(false),
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
            business_name: Some("Acme-Solar".into()),
            homepage_url: Some("http://localhost:12345".into()),
            name: Some("Demo API Client".into()),
            description: Some("An API client".into()),
            access_token_validity_seconds: Some(json!(750)),
            refresh_token_validity_seconds: Some(json!("86400")),
            redirect_uris: Some(vec!["http://localhost:12345".into()]),
            grant_types: Some(vec![
                "AUTHORIZATION_CODE".into(),
                "CLIENT_CREDENTIALS".into(),
                "REFRESH_TOKEN".into(),
            ]),
            access_type: Some("OFFLINE".into()),
            client_type: Some("CONFIDENTIAL".into()),
            internal: Some(false),
            enabled: Some(true),
            strong_auth_supported: Some(false),
            claims_supported: Some(false),
            allowed_scopes: None,
            claims: None,
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
            name: Some(" ".into()),
            access_token_validity_seconds: Some(json!("86401")),
            refresh_token_validity_seconds: Some(json!(1.5)),
            grant_types: Some(vec!["PASSWORD".into(), "AUTHORIZATION_CODE".into()]),
            redirect_uris: Some(vec!["http://example.com/cb".into()]),
            allowed_scopes: Some(vec!["a b".into(), "x".into(), "x".into()]),
            claims: Some(vec![Claim {
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
        let changes = ClientChanges {
            name: Some(Some("Renamed".into())),
            business_name: Some(None),
            ..ClientChanges::default()
        };
        let merged = changes.apply_to(base.clone());
        assert_eq!(merged.name.as_deref(), Some("Renamed"));
        assert_eq!(merged.business_name, None);
        assert_eq!(merged.description, base.description);
    }

    #[test]
    fn public_clients_cannot_use_client_credentials() {
        let draft = ClientDraft {
            client_type: Some("PUBLIC".into()),
            ..seed_example()
        };
        let problems = draft.validate().unwrap_err();
        assert!(problems[0].contains("CLIENT_CREDENTIALS"), "{problems:?}");
    }
}
