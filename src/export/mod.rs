//! `amiwatch export`: stores many AMIs in S3 under the store quota, from a plan file that
//! survives anything (a kill, a lost connection, an ended SSO session).
//!
//! - [`plan`]: the file, its versioned format, and the lock a runner holds on it.
//! - [`runner`]: one poll at a time, what may start and what ended; exactly once by asking
//!   the service before any start.

pub mod command;
pub mod plan;
pub mod runner;
pub mod source;
