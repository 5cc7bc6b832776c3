//! OAuth 2.0 protocol rules that need no HTTP and no SQL.

pub mod client_auth;
pub mod error;
pub mod form;

pub use client_auth::{presented_client, AuthMethod, PresentedClient};
pub use error::OAuthError;
pub use form::Form;
