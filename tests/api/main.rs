//! Integration tests: one binary, one module per area.

mod helpers;
mod login_flow;
mod process;
mod token_client;

mod address_limits;
mod audit;
mod authorization_code;
mod authorize;
mod bad_input;
mod browser;
mod cache_sync;
mod change_feed;
mod cli;
mod client_cache_warm;
mod clients;
mod errors;
mod fail_closed;
mod health;
mod introspection;
mod keys;
mod members;
mod metadata;
mod rate_limits;
mod replicas;
mod revocation;
mod secrets;
mod services;
mod sessions;
mod stock_client;
mod tenant_admin;
mod tenant_token_chains;
mod tenant_tokens;
mod tenants;
mod token_endpoint;
mod users;
