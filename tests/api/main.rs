//! Integration tests: one binary, one module per area.

mod helpers;
mod process;

mod cli;
mod errors;
mod health;
mod keys;
mod replicas;
mod tenant_tokens;
mod tenants;
