//! Fault tests: what clients see when the database stops, the process is killed at the
//! worst moment, the SQLite file cannot be written or the disk fills up — and that
//! nothing acknowledged is lost, nothing refused comes back, and service returns
//! without a restart once the fault is gone.

mod crashes;
mod database_down;
mod sqlite_files;
