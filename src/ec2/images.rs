//! AMI names and details: `DescribeImages` with the `image-id` filter, 100 AMIs a request.
//!
//! Never with `ImageIds` (one missing AMI fails the whole call) and never without IDs (that
//! lists every public image in the region).

use aws_sdk_ec2::operation::describe_images::builders::DescribeImagesFluentBuilder;
use aws_sdk_ec2::types::{Filter, Image};

use super::client::Ec2;
use aws_sdk_ec2::error::ProvideErrorMetadata;

use super::error::{ErrorKind, FetchError};
use super::fetch::{PageGuard, Permission};
use crate::image::{AmiInfo, StoreFacts};

/// AMIs per `DescribeImages` request.
pub const IDS_PER_REQUEST: usize = 100;

/// AMIs one listing may hold: EC2's default quota is 50,000 AMIs a region; past this many the
/// server is broken or hostile, and the listing ends with an error.
pub const MAX_IMAGES: usize = 200_000;

/// What EC2 said of some AMIs, request by request: a failed request loses only its own AMIs.
#[derive(Debug, Default)]
pub struct Lookup {
    pub found: Vec<AmiInfo>,
    /// AMIs whose request failed: neither named nor known to be deregistered.
    pub unanswered: Vec<String>,
    /// The last failure, when any request failed.
    pub error: Option<FetchError>,
}

/// What EC2 knows of these AMIs, keeping the requests that answered when one fails; after a
/// denial nothing more is asked (every request would be denied).
pub async fn look_up(ec2: &Ec2, ids: &[String]) -> Lookup {
    let mut out = Lookup::default();
    for chunk in ids.chunks(IDS_PER_REQUEST) {
        if out.error.as_ref().is_some_and(|e| e.kind == ErrorKind::Unauthorized) {
            out.unanswered.extend_from_slice(chunk);
            continue;
        }
        match describe_images(ec2, chunk).await {
            Ok(found) => out.found.extend(found),
            Err(e) => {
                out.unanswered.extend_from_slice(chunk);
                out.error = Some(e);
            }
        }
    }
    out
}

/// What EC2 knows of these AMIs: those it does not return are deregistered (or not visible).
/// Any failed request fails the whole (the poller asks 100 at a time; see [`look_up`]).
pub async fn describe_images(ec2: &Ec2, ids: &[String]) -> Result<Vec<AmiInfo>, FetchError> {
    let images = images_by_id(ec2, ids).await?;
    Ok(images.iter().filter_map(AmiInfo::from_sdk).collect())
}

/// These AMIs with what decides whether EC2 can store them (`amiwatch export`'s plan): those
/// it does not return do not exist (or are not visible to the caller).
pub async fn describe_for_export(ec2: &Ec2, ids: &[String]) -> Result<Vec<(AmiInfo, StoreFacts)>, FetchError> {
    let images = images_by_id(ec2, ids).await?;
    Ok(images.iter().filter_map(|i| Some((AmiInfo::from_sdk(i)?, StoreFacts::from_sdk(i)))).collect())
}

/// Every AMI the caller's account owns in the region (`Owner=self`: never public images), with
/// what decides whether EC2 can store them: `amiwatch export --owned`.
pub async fn owned_images(ec2: &Ec2) -> Result<Vec<(AmiInfo, StoreFacts)>, FetchError> {
    let images = pages(ec2, |r| r.owners("self").max_results(1000)).await?;
    Ok(images.iter().filter_map(|i| Some((AmiInfo::from_sdk(i)?, StoreFacts::from_sdk(i)))).collect())
}

async fn images_by_id(ec2: &Ec2, ids: &[String]) -> Result<Vec<Image>, FetchError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(IDS_PER_REQUEST) {
        let filter = Filter::builder().name("image-id").set_values(Some(chunk.to_vec())).build();
        out.extend(pages(ec2, |r| r.filters(filter.clone())).await?);
    }
    Ok(out)
}

/// Every page of one `DescribeImages` request, its tokens guarded against a server that
/// repeats them or never ends.
async fn pages(
    ec2: &Ec2,
    shape: impl Fn(DescribeImagesFluentBuilder) -> DescribeImagesFluentBuilder,
) -> Result<Vec<Image>, FetchError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut guard = PageGuard::default();
    loop {
        // Disabled AMIs (stored to S3, then disabled) are left out without IncludeDisabled.
        let request = shape(ec2.client.describe_images()).include_disabled(true).set_next_token(token.take());
        let resp = request.send().await.map_err(|e| FetchError::from_sdk(&e).at(&ec2.endpoint))?;
        out.extend(resp.images().iter().cloned());
        if out.len() > MAX_IMAGES {
            let why = format!("more than {MAX_IMAGES} AMIs in one listing");
            return Err(FetchError::new(ErrorKind::ListingTooLarge, why));
        }
        match resp.next_token().filter(|t| !t.is_empty()) {
            Some(t) => {
                guard.next(t)?;
                token = Some(t.to_string());
            }
            None => return Ok(out),
        }
    }
}

/// Whether the caller may call `DescribeImages` (DryRun, with the `image-id` filter on
/// `ami`, so it could never list public images): optional, for names.
pub async fn check_permission(ec2: &Ec2, ami: &str) -> Result<Permission, FetchError> {
    let filter = Filter::builder().name("image-id").values(ami).build();
    match ec2.client.describe_images().filters(filter).dry_run(true).send().await {
        Ok(_) => Ok(Permission::Allowed),
        Err(e) if e.as_service_error().and_then(|se| se.code()) == Some("DryRunOperation") => Ok(Permission::Allowed),
        Err(e) => {
            let err = FetchError::from_sdk(&e).at(&ec2.endpoint);
            if err.kind == ErrorKind::Unauthorized { Ok(Permission::Denied(err.detail)) } else { Err(err) }
        }
    }
}
