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
        #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
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

client_draft! {
    name: String,
    description: String,
    business_name: String,
    homepage_url: String,
    /// A JSON number or a numeric string (seed 002 shows both).
    access_token_validity_seconds: Value,
    refresh_token_validity_seconds: Value,
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    access_type: String,
    #[serde(rename = "type")]
    client_type: String,
    internal: bool,
    enabled: bool,
    strong_auth_supported: bool,
    claims_supported: bool,
    allowed_scopes: Vec<String>,
    claims: Vec<Claim>,
}

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
    fn public_clients_cannot_use_client_credentials() {
        let draft = ClientDraft {
            client_type: Patch::Value("PUBLIC".into()),
            ..seed_example()
        };
        let problems = draft.validate().unwrap_err();
        assert!(problems[0].contains("CLIENT_CREDENTIALS"), "{problems:?}");
    }
}
