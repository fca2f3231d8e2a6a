//! amiwatch: a live terminal dashboard for Amazon EC2 AMI-to-S3 store-image tasks.
//!
//! Data flows one way: EC2 endpoint -> SDK -> [`task`] -> [`ec2::poller`] snapshot ->
//! [`app`] state -> [`ui`] drawing. The one-shot outputs live in [`output`], the embedded
//! EC2 endpoint in [`sim`].

pub mod app;
pub mod cli;
pub mod ec2;
pub mod output;
pub mod run;
pub mod sim;
pub mod task;
pub mod text;
pub mod tui;
pub mod ui;
pub mod wait;
