//! The AWS side: client set-up, the paginated fetch, the poller, and error classification.
//! Nothing here knows the screen.

pub mod client;
pub mod credentials;
pub mod error;
pub mod export;
pub mod feed;
pub mod fetch;
pub mod images;
pub mod namer;
pub mod poller;

pub use client::{ClientOptions, Ec2, connect, connect_embedded};
pub use error::{ErrorKind, FetchError};
pub use feed::{Feed, FeedInfo, FeedPlan};
pub use fetch::{Fetched, Paging, Permission, Selection, check_permission, enabled_regions, fetch_all, fetch_changes};
pub use poller::{PollEvent, Pollers, Schedule, Snapshot};
