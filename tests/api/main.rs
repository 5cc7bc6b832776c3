//! Integration tests: one binary, one module per area.

mod helpers;

mod cli;
mod errors;
mod health;
mod tenants;
