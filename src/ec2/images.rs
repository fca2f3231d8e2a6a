//! AMI names and details: `DescribeImages` with the `image-id` filter, 100 AMIs a request.
//!
//! Never with `ImageIds` (one missing AMI fails the whole call) and never without IDs (that
//! lists every public image in the region).

use aws_sdk_ec2::types::Filter;

use super::client::Ec2;
use super::error::FetchError;
use super::fetch::PageGuard;
use crate::image::AmiInfo;

/// AMIs per `DescribeImages` request.
pub const IDS_PER_REQUEST: usize = 100;

/// What EC2 knows of these AMIs: those it does not return are deregistered (or not visible).
pub async fn describe_images(ec2: &Ec2, ids: &[String]) -> Result<Vec<AmiInfo>, FetchError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(IDS_PER_REQUEST) {
        let filter = Filter::builder().name("image-id").set_values(Some(chunk.to_vec())).build();
        let mut token: Option<String> = None;
        let mut guard = PageGuard::default();
        loop {
            let resp = ec2
                .client
                .describe_images()
                .filters(filter.clone())
                // Disabled AMIs (stored to S3, then disabled) are left out without it.
                .include_disabled(true)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| FetchError::from_sdk(&e).at(&ec2.endpoint))?;
            out.extend(resp.images().iter().filter_map(AmiInfo::from_sdk));
            match resp.next_token().filter(|t| !t.is_empty()) {
                Some(t) => {
                    guard.next(t)?;
                    token = Some(t.to_string());
                }
                None => break,
            }
        }
    }
    Ok(out)
}
