//! Users and their memberships of tenants (issue 10): the rules a username, a password,
//! an email and roles must satisfy, the user and membership types, and in [`service`]
//! what the API (and next, the login page and the token API) does with them, including
//! [`verify_credentials`], the one place a user's password is checked.
//!
//! A user belongs to no tenant by itself; a membership gives it roles in one. Usernames
//! are unique case-insensitively: each is stored with its lower-cased key. Passwords
//! are kept only as argon2id PHC strings ([`crate::password`]); no type here carries
//! one, so no response can show it.

mod draft;
mod service;
mod usernames;

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer};

pub use crate::ids::UserId;
use crate::store::{from_millis, MemberRecord, UserRecord};
use crate::tenants::TenantId;

pub use draft::{MemberDraft, NewMemberDraft, NewUser, ProfileChanges, UserDraft, CREATION_ONLY};
pub use service::{
    add_member, create_user, delete_member, delete_user, get_user, list_members, list_users,
    membership, put_member, revoke_sessions, set_password, update_user, verify_credentials,
    AddMemberError, Authenticated, CreateUserError, CredentialsError, MemberError, PutOutcome,
    UpdateUserError, UserError,
};
pub use usernames::UsernameCache;

pub const MAX_USERNAME_LEN: usize = 128;
pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 256;
pub const MAX_DISPLAY_NAME_LEN: usize = 256;
/// RFC 5321 §4.5.3.1.3: the longest path a mail address can travel in.
pub const MAX_EMAIL_LEN: usize = 254;

/// A username: 1–128 of `A-Z a-z 0-9 . _ - @ +` (an email address fits). ASCII only, so
/// that case-insensitive means one thing everywhere (no Unicode case folding or
/// normalisation to disagree about) and no two names look alike but differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > MAX_USERNAME_LEN {
            return Err(format!("a username has 1 to {MAX_USERNAME_LEN} characters"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+'))
        {
            return Err(
                "a username may contain only A-Z, a-z, 0-9, '.', '_', '-', '@' and '+'".to_owned(),
            );
        }
        Ok(Username(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What makes two usernames the same: the name in lower case.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A password as a person chose it: 8–256 characters. Checked before any hashing, so an
/// absurd one costs nothing; its `Debug` shows nothing.
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn parse(raw: SecretString) -> Result<Self, String> {
        // Counting stops past the maximum: the check costs the same for any length.
        let length = raw
            .expose_secret()
            .chars()
            .take(MAX_PASSWORD_LEN + 1)
            .count();
        if (MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&length) {
            Ok(Password(raw))
        } else {
            Err(format!(
                "a password has {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters"
            ))
        }
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// A role a membership gives in its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Role {
    Member,
    /// An administrator of the tenant.
    Admin,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "member" => Ok(Role::Member),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("'{}' is not member or admin", raw.escape_debug())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The roles of a membership: at least one, none twice, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Roles(Vec<Role>);

impl Roles {
    /// Every problem, each naming its place (`roles[1]: …`).
    pub fn parse(raw: &[String]) -> Result<Self, Vec<String>> {
        if raw.is_empty() {
            return Err(vec!["roles: at least one role is required".to_owned()]);
        }
        let mut roles = Vec::new();
        let mut problems = Vec::new();
        for (index, text) in raw.iter().enumerate() {
            match Role::parse(text) {
                Ok(role) if roles.contains(&role) => {
                    problems.push(format!("roles[{index}]: '{text}' is listed twice"));
                }
                Ok(role) => roles.push(role),
                Err(problem) => problems.push(format!("roles[{index}]: {problem}")),
            }
        }
        if problems.is_empty() {
            Ok(Roles(roles))
        } else {
            Err(problems)
        }
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    fn to_json(&self) -> String {
        let texts: Vec<&str> = self.0.iter().map(|role| role.as_str()).collect();
        serde_json::Value::from(texts).to_string()
    }

    fn from_json(json: &str) -> anyhow::Result<Self> {
        let texts: Vec<String> = serde_json::from_str(json)?;
        Roles::parse(&texts).map_err(|problems| anyhow::anyhow!(problems.join("; ")))
    }
}

/// What an admin writes about a user, validated. Serialised, it is that part of the
/// user's API form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserProfile {
    #[schema(example = "Ada Lovelace")]
    pub display_name: Option<String>,
    #[schema(example = "ada@example.com")]
    pub email: Option<String>,
    /// The tenant a sign-in goes to when it names none; it must exist.
    #[schema(value_type = Option<String>, example = "acme")]
    pub default_tenant_id: Option<TenantId>,
    /// A disabled user cannot sign in.
    pub enabled: bool,
}

impl Default for UserProfile {
    /// A new user's, before its creation request says more.
    fn default() -> Self {
        Self {
            display_name: None,
            email: None,
            default_tenant_id: None,
            enabled: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub profile: UserProfile,
    /// When the password was last set (its change ended the sessions begun before).
    pub password_changed_at: DateTime<Utc>,
    /// Bumped by every change of the user, its password included.
    pub version: i64,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

/// A user's membership of a tenant, with its roles there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub roles: Roles,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

/// Where a listing of users or of a tenant's members goes on from: the creation time
/// and user id of the last one shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPosition {
    pub created: DateTime<Utc>,
    pub id: UserId,
}

impl UserPosition {
    pub fn of_user(user: &User) -> Self {
        Self {
            created: user.created,
            id: user.id.clone(),
        }
    }

    pub fn of_member(member: &Membership) -> Self {
        Self {
            created: member.created,
            id: member.user_id.clone(),
        }
    }

    fn as_after(&self) -> (i64, &str) {
        (self.created.timestamp_millis(), self.id.as_str())
    }
}

impl fmt::Display for UserPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.created.timestamp_millis(), self.id)
    }
}

impl std::str::FromStr for UserPosition {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (millis, id) = text.split_once('.').ok_or(())?;
        let created = DateTime::from_timestamp_millis(millis.parse().map_err(drop)?).ok_or(())?;
        let id = UserId::parse(id).map_err(drop)?;
        Ok(Self { created, id })
    }
}

fn parse_stored<T>(parsed: Result<T, String>, what: &str) -> anyhow::Result<T> {
    parsed.map_err(|problem| anyhow::anyhow!("corrupt {what}: {problem}"))
}

impl TryFrom<UserRecord> for User {
    type Error = anyhow::Error;

    fn try_from(record: UserRecord) -> anyhow::Result<Self> {
        let default_tenant_id = record
            .default_tenant_id
            .as_deref()
            .map(TenantId::parse)
            .transpose();
        Ok(User {
            id: parse_stored(UserId::parse(&record.id), "user id")?,
            username: parse_stored(Username::parse(&record.username), "username")?,
            profile: UserProfile {
                display_name: record.display_name,
                email: record.email,
                default_tenant_id: parse_stored(default_tenant_id, "default tenant id")?,
                enabled: record.enabled,
            },
            password_changed_at: from_millis(record.password_changed_at),
            version: record.version,
            created: from_millis(record.created_at),
            modified: from_millis(record.updated_at),
        })
    }
}

impl User {
    fn to_record(&self) -> UserRecord {
        UserRecord {
            id: self.id.as_str().to_owned(),
            username: self.username.as_str().to_owned(),
            display_name: self.profile.display_name.clone(),
            email: self.profile.email.clone(),
            default_tenant_id: self
                .profile
                .default_tenant_id
                .as_ref()
                .map(|tenant| tenant.as_str().to_owned()),
            enabled: self.profile.enabled,
            password_changed_at: self.password_changed_at.timestamp_millis(),
            version: self.version,
            created_at: self.created.timestamp_millis(),
            updated_at: self.modified.timestamp_millis(),
        }
    }
}

impl TryFrom<MemberRecord> for Membership {
    type Error = anyhow::Error;

    fn try_from(record: MemberRecord) -> anyhow::Result<Self> {
        Ok(Membership {
            tenant_id: parse_stored(TenantId::parse(&record.tenant_id), "member tenant id")?,
            user_id: parse_stored(UserId::parse(&record.user_id), "member user id")?,
            roles: Roles::from_json(&record.roles)?,
            created: from_millis(record.created_at),
            modified: from_millis(record.updated_at),
        })
    }
}

impl Membership {
    fn to_record(&self) -> MemberRecord {
        MemberRecord {
            tenant_id: self.tenant_id.as_str().to_owned(),
            user_id: self.user_id.as_str().to_owned(),
            roles: self.roles.to_json(),
            created_at: self.created.timestamp_millis(),
            updated_at: self.modified.timestamp_millis(),
        }
    }
}

impl Serialize for Username {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_ascii_and_compared_in_lower_case() {
        let name = Username::parse("Alice.Smith+work@Example.com").unwrap();
        assert_eq!(name.key(), "alice.smith+work@example.com");
        assert_eq!(name.as_str(), "Alice.Smith+work@Example.com");
        assert!(Username::parse(&"a".repeat(128)).is_ok());
        for raw in ["", "a b", "a/b", "josé", "tab\there", &"a".repeat(129)] {
            assert!(Username::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn passwords_have_8_to_256_characters() {
        let parse = |text: &str| Password::parse(SecretString::from(text.to_owned()));
        assert!(parse(&"x".repeat(7)).is_err());
        assert!(parse(&"x".repeat(8)).is_ok());
        assert!(parse(&"é".repeat(256)).is_ok(), "characters, not bytes");
        assert!(parse(&"x".repeat(257)).is_err());
        assert!(parse(&"x".repeat(1 << 20)).is_err());
        assert!(!format!("{:?}", parse("secret-password").unwrap()).contains("secret"));
    }

    #[test]
    fn roles_are_known_present_and_distinct() {
        let texts = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let roles = Roles::parse(&texts(&["admin", "member"])).unwrap();
        assert!(roles.contains(Role::Admin) && roles.contains(Role::Member));
        assert_eq!(Roles::from_json(&roles.to_json()).unwrap(), roles);
        assert_eq!(Roles::parse(&[]).unwrap_err().len(), 1);
        assert_eq!(
            Roles::parse(&texts(&["member", "owner", "member"])).unwrap_err(),
            [
                "roles[1]: 'owner' is not member or admin",
                "roles[2]: 'member' is listed twice"
            ]
        );
    }

    #[test]
    fn positions_round_trip() {
        let position = UserPosition {
            created: DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            id: UserId::generate(),
        };
        assert_eq!(position.to_string().parse(), Ok(position));
        for text in [
            "",
            "nonsense",
            "12.abc",
            "x.0123456789abcdef0123456789abcdef",
        ] {
            assert!(text.parse::<UserPosition>().is_err(), "{text}");
        }
    }
}
