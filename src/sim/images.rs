//! `DescribeImages` as the embedded endpoint answers it: an image for each AMI of the
//! scenario, with a name people would give it, volumes and snapshots; some AMIs deregistered
//! since their export, as teams do to save cost.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::protocol::{Ec2Error, Params, XMLNS, escape};
use super::scenario::{Rng, Scenario};

/// Percent of the scenario's AMIs deregistered since their export.
const DEREGISTERED: u32 = 15;

const NAMES: &[&str] = &[
    "golden-ubuntu-24.04",
    "payments-api",
    "base-al2023",
    "ci-runner",
    "legacy-win2019-sql",
    "data-pipeline-worker",
    "edge-proxy",
    "ml-training-gpu",
];

/// One image as the endpoint describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimImage {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created: DateTime<Utc>,
    pub arch: &'static str,
    /// Device, snapshot, size in GiB.
    pub volumes: Vec<(String, String, u32)>,
    pub deprecation: Option<DateTime<Utc>>,
}

/// The image of an AMI the scenario exported, or `None` when it has been deregistered.
pub fn image_of(ami: &str, seed: u64, base: DateTime<Utc>) -> Option<SimImage> {
    let mut rng = Rng::new(seed ^ crate::text::stable_hash(ami));
    if rng.chance(DEREGISTERED) {
        return None;
    }
    let created = base - Duration::days(rng.range(2, 90) as i64) - Duration::minutes(rng.range(0, 1439) as i64);
    let stem = NAMES[rng.range(0, NAMES.len() as u64 - 1) as usize];
    let name = format!("{stem}-{}", created.format("%Y%m%d"));
    let arch = if rng.chance(30) { "arm64" } else { "x86_64" };
    let snap = |rng: &mut Rng| format!("snap-0{:016x}", rng.next_u64());
    let mut volumes =
        vec![("/dev/xvda".to_string(), snap(&mut rng), [8u32, 16, 30, 50, 100][rng.range(0, 4) as usize])];
    if rng.chance(40) {
        volumes.push(("/dev/sdb".to_string(), snap(&mut rng), [100u32, 250, 500, 1000][rng.range(0, 3) as usize]));
    }
    let deprecation = rng.chance(20).then(|| created + Duration::days(365));
    let description = format!("{stem} built by the image pipeline ({arch})");
    Some(SimImage { id: ami.to_string(), name, description, created, arch, volumes, deprecation })
}

/// A validated `DescribeImages` request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImagesRequest {
    /// `ImageId.N`: every one must exist.
    pub image_ids: Vec<String>,
    /// The `image-id` filter: those that exist.
    pub filter_ids: Option<Vec<String>>,
}

impl ImagesRequest {
    pub fn from_params(p: &Params) -> Result<Self, Ec2Error> {
        let image_ids = p.list("ImageId");
        if p.get("MaxResults").is_some() && !image_ids.is_empty() {
            return Err(Ec2Error::new(
                400,
                "InvalidParameterCombination",
                "The parameter MaxResults cannot be used with the parameter ImageIds.",
            ));
        }
        let mut filter_ids = None;
        for i in 1.. {
            let Some(name) = p.get(&format!("Filter.{i}.Name")) else { break };
            match name {
                "image-id" => filter_ids = Some(p.list(&format!("Filter.{i}.Value"))),
                other => {
                    let msg = format!("The filter '{other}' is not supported by amiwatch's endpoint");
                    return Err(Ec2Error::new(400, "InvalidParameterValue", msg));
                }
            }
        }
        if image_ids.is_empty() && filter_ids.is_none() && p.list("Owner").is_empty() {
            // The real service would list every public image in the region: no client of
            // this endpoint should ask that.
            let msg = "amiwatch's endpoint does not list every public image: name the images";
            return Err(Ec2Error::new(400, "InvalidParameterCombination", msg));
        }
        Ok(Self { image_ids, filter_ids })
    }
}

/// Answers a request over the scenario's AMIs (those started by `now`).
pub fn describe(
    s: &Scenario,
    req: &ImagesRequest,
    seed: u64,
    base: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<SimImage>, Ec2Error> {
    let known = |id: &str| s.tasks.iter().any(|t| t.ami_id == id && t.start <= now);
    let find = |id: &str| known(id).then(|| image_of(id, seed, base)).flatten();
    let mut out = Vec::new();
    for id in &req.image_ids {
        match find(id) {
            Some(img) => out.push(img),
            None => {
                let msg = format!("The image id '[{id}]' does not exist");
                return Err(Ec2Error::new(400, "InvalidAMIID.NotFound", msg));
            }
        }
    }
    for id in req.filter_ids.iter().flatten() {
        if let Some(img) = find(id).filter(|i| !out.contains(i)) {
            out.push(img);
        }
    }
    Ok(out)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The XML answer.
pub fn describe_xml(images: &[SimImage], request_id: &str) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeImagesResponse xmlns=\"{XMLNS}\">\n    <requestId>{request_id}</requestId>\n    <imagesSet>\n"
    );
    for i in images {
        let _ = write!(
            out,
            "        <item>\n            <imageId>{}</imageId>\n            <imageState>available</imageState>\n            <name>{}</name>\n            <description>{}</description>\n            <creationDate>{}</creationDate>\n            <architecture>{}</architecture>\n            <blockDeviceMapping>\n",
            escape(&i.id),
            escape(&i.name),
            escape(&i.description),
            time(i.created),
            i.arch
        );
        for (dev, snap, size) in &i.volumes {
            let _ = writeln!(
                out,
                "                <item><deviceName>{}</deviceName><ebs><snapshotId>{}</snapshotId><volumeSize>{size}</volumeSize><volumeType>gp3</volumeType></ebs></item>",
                escape(dev),
                escape(snap)
            );
        }
        out.push_str("            </blockDeviceMapping>\n");
        if let Some(d) = i.deprecation {
            let _ = writeln!(out, "            <deprecationTime>{}</deprecationTime>", time(d));
        }
        out.push_str("        </item>\n");
    }
    out.push_str("    </imagesSet>\n</DescribeImagesResponse>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::ScenarioShape;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc()
    }

    fn params(s: &str) -> Params {
        Params::parse(s.as_bytes())
    }

    #[test]
    fn the_services_rules_hold() {
        let s = Scenario::generate(&ScenarioShape::builtin(), 200, 1, at());
        let amis: Vec<&str> = s.tasks.iter().map(|t| t.ami_id.as_str()).collect();
        let gone = amis.iter().find(|a| image_of(a, 1, at()).is_none()).expect("some AMI deregistered");
        let live = amis.iter().find(|a| image_of(a, 1, at()).is_some()).unwrap();
        // ImageId.N naming a missing AMI fails the whole call.
        let req = ImagesRequest::from_params(&params(&format!("ImageId.1={live}&ImageId.2={gone}"))).unwrap();
        assert_eq!(describe(&s, &req, 1, at(), at()).unwrap_err().code, "InvalidAMIID.NotFound");
        // The image-id filter returns those that exist.
        let q = format!("Filter.1.Name=image-id&Filter.1.Value.1={live}&Filter.1.Value.2={gone}");
        let got = describe(&s, &ImagesRequest::from_params(&params(&q)).unwrap(), 1, at(), at()).unwrap();
        assert_eq!(got.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), [*live]);
        let e = ImagesRequest::from_params(&params(&format!("ImageId.1={live}&MaxResults=5"))).unwrap_err();
        assert_eq!(e.code, "InvalidParameterCombination");
        assert!(ImagesRequest::from_params(&params("")).is_err(), "never every public image");
        let xml = describe_xml(&got, "r");
        assert!(xml.contains("<name>") && xml.contains("<volumeSize>") && xml.ends_with("</DescribeImagesResponse>"));
    }
}
