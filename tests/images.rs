//! `DescribeImages` through the real SDK against the embedded endpoint, as strict as EC2: its
//! rules refuse what the service refuses, amiwatch's name lookup pages and stops on a repeated
//! token, and disabled AMIs are asked for and named as such.

use std::collections::BTreeSet;
use std::time::Duration;

use amiwatch::ec2::{self, ClientOptions, Ec2, Paging, Selection};
use amiwatch::image::{ImageState, Naming};
use amiwatch::sim::{self, FaultConfig, Hostile, SimConfig, SimHandle};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::Filter;

async fn endpoint(tasks: usize) -> SimHandle {
    let config = SimConfig { tasks, seed: 31, frozen: true, ..SimConfig::default() };
    sim::start(([127, 0, 0, 1], 0).into(), config).await.unwrap()
}

fn client(h: &SimHandle) -> Ec2 {
    let opts = ClientOptions {
        attempt_timeout: Some(Duration::from_secs(5)),
        max_attempts: Some(1),
        ..ClientOptions::default()
    };
    ec2::connect_embedded(h.url(), &opts)
}

async fn amis(ec2: &Ec2) -> Vec<String> {
    let f = ec2::fetch_all(ec2, &Selection::default(), &Paging::default()).await.unwrap();
    let set: BTreeSet<String> = f.tasks.iter().filter_map(|t| t.ami_id.as_deref().map(str::to_string)).collect();
    set.into_iter().collect()
}

fn by_id(ids: &[String]) -> Filter {
    Filter::builder().name("image-id").set_values(Some(ids.to_vec())).build()
}

#[tokio::test]
async fn the_endpoint_refuses_what_ec2_refuses_and_pages_with_max_results() {
    let h = endpoint(200).await;
    let ec2 = client(&h);
    let ids = amis(&ec2).await;
    assert!(ids.len() > 100, "{}", ids.len());
    type Answer = Result<
        aws_sdk_ec2::operation::describe_images::DescribeImagesOutput,
        aws_sdk_ec2::error::SdkError<aws_sdk_ec2::operation::describe_images::DescribeImagesError>,
    >;
    let code = |r: Answer| r.unwrap_err().into_service_error().code().unwrap_or_default().to_string();
    let c = &ec2.client;
    for bad in [0, 4, 1001, 100_000] {
        let r = c.describe_images().filters(by_id(&ids)).max_results(bad).send().await;
        assert_eq!(code(r), "InvalidParameterValue", "MaxResults {bad}");
    }
    let r = c.describe_images().filters(by_id(&ids)).next_token("garbage").send().await;
    assert_eq!(code(r), "InvalidParameterValue");
    let r = c.describe_images().image_ids(&ids[0]).max_results(5).send().await;
    assert_eq!(code(r), "InvalidParameterCombination");
    let r = c.describe_images().image_ids("ami-nothex").send().await;
    assert_eq!(code(r), "InvalidAMIID.Malformed");

    // 5 a page, each image once, the last page without a token.
    let (mut seen, mut token, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let out = c.describe_images().filters(by_id(&ids)).max_results(5).set_next_token(token).send().await.unwrap();
        assert!(out.images().len() <= 5);
        seen.extend(out.images().iter().filter_map(|i| i.image_id().map(str::to_string)));
        pages += 1;
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
        assert!(pages < 1000, "the pages end");
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no image twice");
    let whole = c.describe_images().filters(by_id(&ids)).send().await.unwrap();
    assert!(whole.next_token().is_none(), "without MaxResults, one answer");
    assert_eq!(whole.images().len(), seen.len());
    assert!(pages > 1);
}

#[tokio::test]
async fn amiwatchs_name_lookup_follows_pages_and_stops_on_a_repeated_token() {
    let h = endpoint(200).await;
    let ec2 = client(&h);
    let ids = amis(&ec2).await;
    let whole = ec2::images::describe_images(&ec2, &ids).await.unwrap();
    let before = h.stats().describe_images;
    // The same lookup against a server that pages by 7 unasked: the same images, in pages.
    h.set_faults(FaultConfig { images_page: Some(7), ..FaultConfig::default() });
    let paged = ec2::images::describe_images(&ec2, &ids).await.unwrap();
    assert_eq!(paged, whole);
    let requests = h.stats().describe_images - before;
    let chunks: u64 = ids.chunks(ec2::images::IDS_PER_REQUEST).map(|c| c.len().div_ceil(7) as u64).sum();
    assert!(requests > 2 && requests <= chunks, "{requests} requests, at most {chunks} pages");
    // A server that hands back the same token: an error, not an endless loop.
    h.set_faults(FaultConfig { hostile: Hostile::RepeatToken, ..FaultConfig::default() });
    let err = tokio::time::timeout(Duration::from_secs(20), ec2::images::describe_images(&ec2, &ids))
        .await
        .expect("the lookup ends")
        .unwrap_err();
    assert_eq!(err.kind, ec2::ErrorKind::EndlessListing, "{err:?}");
    assert!(err.detail.contains("token it had sent before"), "{err:?}");
}

#[tokio::test]
async fn disabled_amis_are_asked_for_and_shown_disabled_not_deregistered() {
    let h = endpoint(200).await;
    let ec2 = client(&h);
    let ids = amis(&ec2).await;
    let found = ec2::images::describe_images(&ec2, &ids).await.unwrap();
    let disabled: Vec<_> = found.iter().filter(|i| i.image_state() == Some(ImageState::Disabled)).collect();
    assert!(!disabled.is_empty(), "the scenario's disabled AMIs come back with IncludeDisabled");
    let naming = Naming::of(std::sync::Arc::new(disabled[0].clone()));
    assert_eq!(naming.state_label(), Some("disabled"));
    assert_eq!(naming.name(), disabled[0].name.as_deref(), "a disabled AMI keeps its name");
    // An AMI deregistered within the hour comes back with that state: it reads as deregistered.
    let gone: Vec<_> = found.iter().filter(|i| i.image_state() == Some(ImageState::Deregistered)).collect();
    assert!(!gone.is_empty());
    assert_eq!(Naming::of(std::sync::Arc::new(gone[0].clone())), Naming::Deregistered);
}
