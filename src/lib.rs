//! Tessera: an OAuth 2.0 / JWT authorization server.

#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod changes;
pub mod cli;
pub mod clients;
pub mod config;
pub mod http;
pub mod ids;
pub mod keys;
pub mod login;
pub mod metrics;
pub mod oauth;
pub mod password;
pub mod patch;
#[cfg(test)]
mod properties;
pub mod rate_limit;
pub mod sessions;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tenants;
pub mod tokens;
pub mod users;
