//! `CreateStoreImageTask`: the one call that writes, made only when the user allowed retries
//! (`--allow-retry`), once per confirmation, never retried on its own.

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::S3ObjectTag;

use super::client::Ec2;
use super::error::{ErrorKind, FetchError};
use super::fetch::Permission;

/// Starts an export of `ami` to `bucket`; returns the S3 object key EC2 chose. One attempt:
/// a write is not repeated behind the user's back.
/// `tags` go on the S3 object (`S3ObjectTag.N`).
pub async fn create_store_image_task(
    ec2: &Ec2,
    ami: &str,
    bucket: &str,
    tags: &[(String, String)],
) -> Result<String, FetchError> {
    let tags = tags.iter().map(|(k, v)| S3ObjectTag::builder().key(k).value(v).build()).collect();
    let resp = ec2
        .client
        .create_store_image_task()
        .image_id(ami)
        .bucket(bucket)
        .set_s3_object_tags(Some(tags))
        .customize()
        .config_override(
            aws_sdk_ec2::config::Config::builder()
                .retry_config(aws_sdk_ec2::config::retry::RetryConfig::standard().with_max_attempts(1)),
        )
        .send()
        .await
        .map_err(|e| FetchError::from_sdk(&e).at(&ec2.endpoint))?;
    Ok(resp.object_key().unwrap_or_default().to_string())
}

/// The AMI a write check names when the account has no export to take one from.
pub const PLACEHOLDER_AMI: &str = "ami-00000000";

/// Whether the caller may call `CreateStoreImageTask` (DryRun: nothing is exported), checked
/// on `ami`: an AMI of the account's own exports when there is one ([`super::fetch::sample_ami`]),
/// else [`PLACEHOLDER_AMI`]. EC2's documentation does not say whether DryRun looks at the AMI
/// before answering; with a real AMI the answer is about the permission either way.
pub async fn check_permission(ec2: &Ec2, ami: &str) -> Result<Permission, FetchError> {
    let res = ec2.client.create_store_image_task().image_id(ami).bucket("amiwatch-dry-run").dry_run(true).send().await;
    match res {
        Ok(_) => Ok(Permission::Allowed),
        Err(e) if e.as_service_error().and_then(|se| se.code()) == Some("DryRunOperation") => Ok(Permission::Allowed),
        Err(e) => {
            let err = FetchError::from_sdk(&e).at(&ec2.endpoint);
            if err.kind == ErrorKind::Unauthorized { Ok(Permission::Denied(err.detail)) } else { Err(err) }
        }
    }
}

/// Why a retry was refused, in words for the toast: the cause first, then the server's.
pub fn explain(e: &FetchError, ami: &str) -> String {
    let said = crate::text::truncate(&e.detail, 160).into_owned();
    match &e.kind {
        ErrorKind::Unauthorized => "retry refused: the caller may not call ec2:CreateStoreImageTask (and the service needs S3 write access to the bucket)".to_string(),
        ErrorKind::InvalidRequest(code) if code == "InvalidAMIID.NotFound" => {
            format!("retry refused: {ami} no longer exists (deregistered), so it cannot be exported again")
        }
        ErrorKind::InvalidRequest(code) if code == "IncorrectState" => {
            format!("retry refused: an export of {ami} is already in progress ({said})")
        }
        ErrorKind::Refused(code) if code == "ResourceLimitExceeded" => {
            format!("retry refused for now: the store quota is full; try again when an export in progress ends ({said})")
        }
        ErrorKind::Refused(code) if code == "UnsupportedOperation" => {
            format!("retry refused for good: EC2 cannot store {ami} in S3 ({said})")
        }
        ErrorKind::InvalidRequest(_) => format!("retry refused by EC2: {said}"),
        _ => format!("retry failed: {}", e.summary()),
    }
}
