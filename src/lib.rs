//! amiwatch: a live terminal dashboard for Amazon EC2 AMI-to-S3 store-image tasks.
//!
//! Data flows one way: EC2 endpoint -> SDK -> [`task`] -> [`ec2::poller`] snapshot ->
//! [`app`] state -> [`ui`] drawing, for each feed (a profile x region pair, [`ec2::feed`]).
//! [`run`] picks the mode; [`once`] and [`wait`] serve scripts on the same pollers, with
//! [`output`] for their formats; the embedded EC2 endpoint is [`sim`].

pub mod app;
pub mod cli;
pub mod config;
pub mod ec2;
pub mod eta;
pub mod export;
pub mod files;
pub mod image;
pub mod manual;
pub mod once;
pub mod output;
pub mod profiles;
pub mod regions;
pub mod run;
pub mod sim;
pub mod task;
pub mod text;
pub mod throughput;
pub mod tui;
pub mod ui;
pub mod wait;
