//! The bodies that create or change users and memberships, as sent, and their
//! validation: one [`UserDraft`] for a creation and an update (each field a [`Patch`]),
//! checked into a [`NewUser`] or [`ProfileChanges`] with every problem named.

use secrecy::SecretString;
use serde::Deserialize;

use super::{Password, Roles, UserProfile, Username, MAX_DISPLAY_NAME_LEN, MAX_EMAIL_LEN};
use crate::patch::Patch;
use crate::tenants::TenantId;

/// A user's fields as a request sends them. Unknown fields are refused, so a typo is a
/// 400, not a silent no-op.
///
/// As a schema it is a creation's body; an update's is the same without `username` and
/// `password` (which it refuses), every field optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = NewUser, example = json!({
    "username": "ada@example.com",
    "password": "correct horse battery staple",
    "displayName": "Ada Lovelace",
    "email": "ada@example.com",
    "defaultTenantId": "acme"
}))]
pub struct UserDraft {
    /// 1 to 128 of `A-Z a-z 0-9 . _ - @ +`, unique ignoring case; never changes.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128,
        pattern = "^[A-Za-z0-9._@+-]{1,128}$", example = "ada@example.com")]
    pub username: Patch<String>,
    /// 8 to 256 characters.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Password, write_only,
        min_length = 8, max_length = 256, pattern = r"^[^\u0000]{8,256}$")]
    pub password: Patch<SecretString>,
    /// At most 256 characters, not blank, no control characters; `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 256,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$", example = "Ada Lovelace")]
    pub display_name: Patch<String>,
    /// `local@domain` (one `@`, no spaces), at most 254 characters; `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 3, max_length = 254,
        pattern = r"^[^@\s\x00-\x1F\x7F-\x9F]+@[^@\s\x00-\x1F\x7F-\x9F]+$", example = "ada@example.com")]
    pub email: Patch<String>,
    /// The tenant a sign-in goes to when it names none; it must exist. `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64,
        pattern = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$", example = "acme")]
    pub default_tenant_id: Patch<String>,
    /// A disabled user cannot sign in; `true` when not given.
    #[serde(default)]
    #[schema(value_type = bool, example = true)]
    pub enabled: Patch<bool>,
}

/// The fields only a creation sends (an update refuses them).
pub const CREATION_ONLY: [&str; 2] = ["username", "password"];

/// A user to create, validated (its password not yet hashed).
#[derive(Debug)]
pub struct NewUser {
    pub username: Username,
    pub password: Password,
    pub profile: UserProfile,
}

/// Changes to a user's profile, each validated; laid over the stored profile with
/// [`ProfileChanges::over`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    pub display_name: Patch<String>,
    pub email: Patch<String>,
    pub default_tenant_id: Patch<TenantId>,
    pub enabled: Patch<bool>,
}

impl UserDraft {
    /// A creation: `username` and `password` are required, the rest optional.
    pub fn for_creation(self) -> Result<NewUser, Vec<String>> {
        let mut problems = Vec::new();
        let username = match &self.username {
            Patch::Value(raw) => Username::parse(raw)
                .map_err(|problem| problems.push(format!("username: {problem}")))
                .ok(),
            Patch::Absent | Patch::Null => {
                problems.push("username: is required".to_owned());
                None
            }
        };
        let password = match self.password {
            Patch::Value(raw) => Password::parse(raw)
                .map_err(|problem| problems.push(format!("password: {problem}")))
                .ok(),
            Patch::Absent | Patch::Null => {
                problems.push("password: is required".to_owned());
                None
            }
        };
        let changes = profile_changes(
            self.display_name,
            self.email,
            self.default_tenant_id,
            self.enabled,
            &mut problems,
        );
        match (username, password, problems.is_empty()) {
            (Some(username), Some(password), true) => Ok(NewUser {
                username,
                password,
                profile: changes.over(UserProfile::default()),
            }),
            _ => Err(problems),
        }
    }

    /// An update: the profile only; the username never changes, and a password has its
    /// own request.
    pub fn for_update(self) -> Result<ProfileChanges, Vec<String>> {
        let mut problems = Vec::new();
        if self.username.is_sent() {
            problems.push("username: cannot be changed".to_owned());
        }
        if self.password.is_sent() {
            problems.push("password: is set with PUT /api/v1/users/{userId}/password".to_owned());
        }
        let changes = profile_changes(
            self.display_name,
            self.email,
            self.default_tenant_id,
            self.enabled,
            &mut problems,
        );
        if problems.is_empty() {
            Ok(changes)
        } else {
            Err(problems)
        }
    }
}

/// Each profile field checked on its own (they are independent); problems are added to
/// `problems`.
fn profile_changes(
    display_name: Patch<String>,
    email: Patch<String>,
    default_tenant_id: Patch<String>,
    enabled: Patch<bool>,
    problems: &mut Vec<String>,
) -> ProfileChanges {
    if let Some(name) = display_name.value() {
        if name.trim().is_empty() {
            problems.push("displayName: must not be blank (use null to clear it)".to_owned());
        }
        if name.chars().count() > MAX_DISPLAY_NAME_LEN {
            problems.push(format!(
                "displayName: at most {MAX_DISPLAY_NAME_LEN} characters"
            ));
        }
        if name.chars().any(char::is_control) {
            problems.push("displayName: must not contain control characters".to_owned());
        }
    }
    if let Some(address) = email.value() {
        if let Err(problem) = check_email(address) {
            problems.push(format!("email: {problem}"));
        }
    }
    let default_tenant_id = match default_tenant_id {
        Patch::Absent => Patch::Absent,
        Patch::Null => Patch::Null,
        Patch::Value(raw) => match TenantId::parse(&raw) {
            Ok(tenant) => Patch::Value(tenant),
            Err(problem) => {
                problems.push(format!("defaultTenantId: {problem}"));
                Patch::Absent
            }
        },
    };
    if enabled == Patch::Null {
        problems.push("enabled: must be true or false".to_owned());
    }
    ProfileChanges {
        display_name,
        email,
        default_tenant_id,
        enabled,
    }
}

/// A plausible address (`local@domain`, one `@`, no spaces or control characters); whether it
/// receives mail is not Tessera's to know.
fn check_email(address: &str) -> Result<(), String> {
    if address.chars().count() > MAX_EMAIL_LEN {
        return Err(format!("at most {MAX_EMAIL_LEN} characters"));
    }
    let well_formed = address.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    }) && !address.chars().any(|c| c.is_whitespace() || c.is_control());
    if well_formed {
        Ok(())
    } else {
        Err("not an email address (local@domain)".to_owned())
    }
}

impl ProfileChanges {
    /// These changes laid over `base`: what is absent stays, `null` clears.
    pub fn over(self, base: UserProfile) -> UserProfile {
        let keep = |change: Patch<String>, current: Option<String>| {
            change.over(Patch::from(current)).into_value()
        };
        UserProfile {
            display_name: keep(self.display_name, base.display_name),
            email: keep(self.email, base.email),
            default_tenant_id: self
                .default_tenant_id
                .over(Patch::from(base.default_tenant_id))
                .into_value(),
            enabled: self.enabled.into_value().unwrap_or(base.enabled),
        }
    }
}

/// A membership's body: `{"roles": [...]}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MembershipRoles, example = json!({"roles": ["admin"]}))]
pub struct MemberDraft {
    #[serde(default)]
    #[schema(required = true, schema_with = roles_schema)]
    pub roles: Option<Vec<String>>,
}

/// The roles of a membership, as [`Roles::parse`] takes them: at least one, each once.
fn roles_schema() -> utoipa::openapi::schema::ArrayBuilder {
    use utoipa::openapi::schema::{ArrayBuilder, SchemaType, Type};
    use utoipa::PartialSchema;
    ArrayBuilder::new()
        .schema_type(SchemaType::new(Type::Array))
        .items(super::Role::schema())
        .min_items(Some(1))
        .max_items(Some(2))
        .unique_items(true)
        .description(Some("The roles in the tenant: at least one, each once."))
}

impl MemberDraft {
    pub fn roles(&self) -> Result<Roles, Vec<String>> {
        match &self.roles {
            Some(roles) => Roles::parse(roles),
            None => Err(vec!["roles: is required".to_owned()]),
        }
    }
}

/// The body of a membership added by username: `{"username": "...", "roles": [...]}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewMembership, example = json!({"username": "ada@example.com", "roles": ["member"]}))]
pub struct NewMemberDraft {
    /// The user's username (any case).
    #[serde(default)]
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9._@+-]{1,128}$"
    )]
    pub username: Option<String>,
    #[serde(default)]
    #[schema(required = true, schema_with = roles_schema)]
    pub roles: Option<Vec<String>>,
}

impl NewMemberDraft {
    /// The username and roles, or every problem with them.
    pub fn validate(&self) -> Result<(Username, Roles), Vec<String>> {
        let username = match self.username.as_deref() {
            None => Err(vec!["username: is required".to_owned()]),
            Some(raw) => {
                Username::parse(raw).map_err(|problem| vec![format!("username: {problem}")])
            }
        };
        let roles = MemberDraft {
            roles: self.roles.clone(),
        }
        .roles();
        match (username, roles) {
            (Ok(username), Ok(roles)) => Ok((username, roles)),
            (username, roles) => Err(username
                .err()
                .unwrap_or_default()
                .into_iter()
                .chain(roles.err().unwrap_or_default())
                .collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn draft(body: serde_json::Value) -> UserDraft {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn a_creation_needs_a_username_and_a_password_and_names_each_problem() {
        let problems = draft(json!({})).for_creation().unwrap_err();
        assert_eq!(problems, ["username: is required", "password: is required"]);
        let problems = draft(json!({
            "username": "a b", "password": "short", "displayName": " ",
            "email": "nobody", "defaultTenantId": "a/b", "enabled": null
        }))
        .for_creation()
        .unwrap_err();
        let fields: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "username",
                "password",
                "displayName",
                "email",
                "defaultTenantId",
                "enabled"
            ]
        );
        let new = draft(json!({"username": "Alice", "password": "long enough"}))
            .for_creation()
            .unwrap();
        assert_eq!(new.profile, UserProfile::default());
        assert!(new.profile.enabled);
    }

    #[test]
    fn an_update_changes_the_profile_only() {
        let problems = draft(json!({"username": "x", "password": "12345678"}))
            .for_update()
            .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        let base = UserProfile {
            display_name: Some("Alice".into()),
            email: Some("a@example.com".into()),
            default_tenant_id: Some(TenantId::parse("acme").unwrap()),
            enabled: true,
        };
        let changes = draft(json!({"email": null, "enabled": false}))
            .for_update()
            .unwrap();
        assert_eq!(
            changes.over(base.clone()),
            UserProfile {
                email: None,
                enabled: false,
                ..base.clone()
            }
        );
        assert_eq!(ProfileChanges::default().over(base.clone()), base);
    }

    #[test]
    fn emails_are_plausible() {
        for good in ["a@b", "first.last+tag@example.co.uk"] {
            assert!(check_email(good).is_ok(), "{good}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in ["", "a", "@b", "a@", "a b@c", "a@b@c", long.as_str()] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn memberships_need_roles() {
        let parse = |body| serde_json::from_value::<MemberDraft>(body).unwrap().roles();
        assert!(parse(json!({})).is_err());
        assert!(parse(json!({"roles": []})).is_err());
        assert!(parse(json!({"roles": ["member"]})).is_ok());
    }

    #[test]
    fn a_member_added_by_username_needs_both_and_names_each_problem() {
        use crate::users::Role;
        let validate = |body| {
            serde_json::from_value::<NewMemberDraft>(body)
                .unwrap()
                .validate()
        };
        let fields = |problems: Vec<String>| -> Vec<String> {
            problems
                .iter()
                .map(|p| p.split(':').next().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            fields(validate(json!({})).unwrap_err()),
            ["username", "roles"]
        );
        assert_eq!(
            fields(validate(json!({"username": "a b", "roles": ["owner"]})).unwrap_err()),
            ["username", "roles[0]"]
        );
        let (username, roles) = validate(json!({"username": "Ada", "roles": ["admin"]})).unwrap();
        assert_eq!(username.key(), "ada");
        assert!(roles.contains(Role::Admin));
        assert!(serde_json::from_value::<NewMemberDraft>(json!({"userId": "x"})).is_err());
    }
}
