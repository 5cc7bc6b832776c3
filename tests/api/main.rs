//! Integration tests: one binary, one module per area.

mod helpers;

mod audit;
mod cli;
mod clients;
mod errors;
mod health;
mod secrets;
mod tenants;
