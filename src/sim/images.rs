//! `DescribeImages` as the embedded endpoint answers it: an image for each AMI of the
//! scenario, with a name people would give it, volumes and snapshots; some AMIs disabled (an
//! archive pattern: store to S3, then disable) and some deregistered since their export, as
//! teams do to save cost, a few of them so recently that EC2 still returns them; and the
//! account's fresh AMIs, never exported ([`super::fresh`]).
//!
//! The service's rules: `MaxResults` 5..=1000 pages the answer with a `NextToken` (never with
//! `ImageId.N`); without it, everything in one answer. Disabled images only with
//! `IncludeDisabled=true`. `ImageId.N` naming an image EC2 does not return fails the whole call.
//! `Owner.N` (`self` or the account's ID) restricts the answer to the account's own images; the
//! endpoint never lists public images (an owner such as `amazon` without IDs is refused).

use std::fmt::Write as _;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::fresh::FreshImage;
use super::protocol::{Ec2Error, Params, XMLNS, decode_token, encode_token, escape};
use super::scenario::{Rng, Scenario};

/// Percent of the scenario's AMIs deregistered since their export.
const DEREGISTERED: u32 = 15;
/// Percent of the deregistered ones deregistered within the last hour.
const JUST_DEREGISTERED: u32 = 35;
/// Percent of the AMIs still registered that are disabled.
const DISABLED: u32 = 10;
/// How long EC2 still returns an image after it was deregistered, with the state
/// `deregistered` ("recently deregistered images appear in the results for a short interval").
pub const DEREGISTERED_VISIBLE_MINUTES: i64 = 60;
/// `MaxResults` bounds.
pub const MIN_RESULTS: usize = 5;
pub const MAX_RESULTS: usize = 1000;

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

/// An image's state, as `imageState` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimState {
    Available,
    Disabled,
    /// Deregistered at this time: returned for a while, then gone.
    Deregistered(DateTime<Utc>),
}

impl SimState {
    pub fn as_wire(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Disabled => "disabled",
            Self::Deregistered(_) => "deregistered",
        }
    }
}

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
    pub state: SimState,
    /// `imageOwnerId`: the account's ID (empty from [`record_of`], set by [`lookup`]).
    pub owner_id: String,
    /// AWS Marketplace product codes: a store of such an AMI is refused for good.
    pub product_codes: Vec<String>,
    /// The root device is an instance store (`rootDeviceType`), else EBS.
    pub instance_store: bool,
}

/// Every image the scenario's AMI `ami` ever had, whatever its state now.
pub fn record_of(ami: &str, seed: u64, base: DateTime<Utc>) -> SimImage {
    let mut rng = Rng::new(seed ^ crate::text::stable_hash(ami));
    let deregistered = rng.chance(DEREGISTERED);
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
    // Drawn last, so the images above are the same whatever these say.
    let state = if deregistered {
        let ago = if rng.chance(JUST_DEREGISTERED) {
            Duration::minutes(rng.range(1, DEREGISTERED_VISIBLE_MINUTES as u64 - 15) as i64)
        } else {
            Duration::days(rng.range(1, 30) as i64)
        };
        SimState::Deregistered(base - ago)
    } else if rng.chance(DISABLED) {
        SimState::Disabled
    } else {
        SimState::Available
    };
    SimImage {
        id: ami.to_string(),
        name,
        description,
        created,
        arch,
        volumes,
        deprecation,
        state,
        owner_id: String::new(),
        product_codes: Vec::new(),
        instance_store: false,
    }
}

/// How the endpoint was set up, and for whom it answers: what an image lookup needs besides
/// the scenario.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub seed: u64,
    /// The clock's start: the scenario's images are dated from it.
    pub base: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub marketplace_percent: u32,
    /// The signing account's ID: every image the endpoint knows is its own.
    pub owner_id: &'a str,
}

impl FreshImage {
    /// Itself as `DescribeImages` describes it: available, owned by `owner_id`.
    pub fn to_image(&self, owner_id: &str) -> SimImage {
        let stem = self.name.rsplit_once('-').map_or(self.name.as_str(), |(stem, _)| stem);
        SimImage {
            id: self.id.clone(),
            name: self.name.clone(),
            description: format!("{stem} built by the image pipeline (x86_64)"),
            created: self.created,
            arch: "x86_64",
            volumes: self.volumes(),
            deprecation: None,
            state: SimState::Available,
            owner_id: owner_id.to_string(),
            product_codes: self.product_code().into_iter().collect(),
            instance_store: self.instance_store,
        }
    }
}

/// The image `id` of this account and region, whatever its state: a fresh AMI, or one the
/// scenario exported by `now`. `None`: EC2 never had it here.
pub fn lookup(s: &Scenario, id: &str, v: &View<'_>) -> Option<SimImage> {
    if let Some(f) = s.fresh.get(id) {
        return Some(f.to_image(v.owner_id));
    }
    if !s.tasks.iter().any(|t| t.ami_id == id && t.start <= v.now) {
        return None;
    }
    let mut img = record_of(id, v.seed, v.base);
    img.owner_id = v.owner_id.to_string();
    if is_marketplace(id, v.seed, v.marketplace_percent) {
        img.product_codes.push(super::fresh::product_code(id));
    }
    Some(img)
}

/// The size in GB of the AMI `id` (fresh or exported), whatever its state now.
pub fn size_of(s: &Scenario, id: &str, seed: u64, base: DateTime<Utc>) -> u64 {
    s.fresh.get(id).map_or_else(|| size_gb(id, seed, base), |f| f.size_gb)
}

/// The image of an AMI the scenario exported, or `None` when it has been deregistered.
pub fn image_of(ami: &str, seed: u64, base: DateTime<Utc>) -> Option<SimImage> {
    Some(record_of(ami, seed, base)).filter(|i| !matches!(i.state, SimState::Deregistered(_)))
}

/// An AMI's size in GB: the sum of its EBS volumes (what the store quota counts), whatever
/// its state now.
pub fn size_gb(ami: &str, seed: u64, base: DateTime<Utc>) -> u64 {
    record_of(ami, seed, base).volumes.iter().map(|v| u64::from(v.2)).sum()
}

/// Whether the AMI carries marketplace product codes (`percent` of the AMIs do): a store of
/// it is refused for good.
pub fn is_marketplace(ami: &str, seed: u64, percent: u32) -> bool {
    percent > 0 && (crate::text::stable_hash(ami) ^ seed.rotate_left(17)) % 100 < u64::from(percent)
}

/// A validated `DescribeImages` request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImagesRequest {
    /// `ImageId.N`: every one must be returned, or the call fails.
    pub image_ids: Vec<String>,
    /// The `image-id` filter: those that exist.
    pub filter_ids: Option<Vec<String>>,
    pub max_results: Option<usize>,
    /// Index of the first image of the page.
    pub next_token: Option<usize>,
    pub include_disabled: bool,
    /// `Owner.N`: `self`, an account ID, or an alias such as `amazon`.
    pub owners: Vec<String>,
}

/// The owner aliases EC2 takes besides `self`: all of them name public images.
const OWNER_ALIASES: [&str; 3] = ["amazon", "aws-marketplace", "aws-backup-vault"];

fn invalid(msg: String) -> Ec2Error {
    Ec2Error::new(400, "InvalidParameterValue", msg)
}

impl ImagesRequest {
    pub fn from_params(p: &Params) -> Result<Self, Ec2Error> {
        let image_ids = p.list("ImageId");
        let max_results = super::protocol::ids_and_max_results(p, &image_ids, MIN_RESULTS..=MAX_RESULTS)?;
        let next_token = match p.get("NextToken") {
            None => None,
            Some(t) => Some(decode_token(t).ok_or_else(|| {
                invalid(format!("Value ( {t} ) for parameter NextToken is invalid. The token is invalid."))
            })?),
        };
        let include_disabled = match p.get("IncludeDisabled") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => return Err(invalid(format!("Value ( {v} ) for parameter IncludeDisabled is invalid."))),
        };
        let mut filter_ids = None;
        for i in 1.. {
            let Some(name) = p.get(&format!("Filter.{i}.Name")) else { break };
            match name {
                "image-id" => filter_ids = Some(p.list(&format!("Filter.{i}.Value"))),
                other => {
                    let msg = format!("The filter '{other}' is not supported by amiwatch's endpoint");
                    return Err(invalid(msg));
                }
            }
        }
        let owners = p.list("Owner");
        if let Some(bad) = owners.iter().find(|o| {
            let account = o.len() == 12 && o.bytes().all(|b| b.is_ascii_digit());
            !(account || *o == "self" || OWNER_ALIASES.contains(&o.as_str()))
        }) {
            // Assumed: EC2's code for an owner that is no account ID nor alias.
            let msg = format!("Invalid user id: \"{bad}\"");
            return Err(Ec2Error::new(400, "InvalidUserID.Malformed", msg));
        }
        if image_ids.is_empty() && filter_ids.is_none() && owners.is_empty() {
            // The real service would list every public image in the region: no client of
            // this endpoint should ask that.
            let msg = "amiwatch's endpoint does not list every public image: name the images";
            return Err(Ec2Error::new(400, "InvalidParameterCombination", msg));
        }
        Ok(Self { image_ids, filter_ids, max_results, next_token, include_disabled, owners })
    }

    /// Whether the caller's own images pass the `Owner.N` restriction (none: they do).
    fn owns(&self, owner_id: &str) -> bool {
        self.owners.is_empty() || self.owners.iter().any(|o| o == "self" || o == owner_id)
    }
}

/// One answer: the images and the token of the next page.
#[derive(Debug)]
pub struct ImagesPage {
    pub images: Vec<SimImage>,
    pub next_token: Option<String>,
}

/// Answers a request over the account's AMIs: its fresh ones and those its tasks exported (by
/// `now`). `unasked_page` pages an answer whose request set no `MaxResults` (a server may: a
/// client follows `NextToken` whatever it asked).
pub fn describe(
    s: &Scenario,
    req: &ImagesRequest,
    v: &View<'_>,
    unasked_page: Option<usize>,
) -> Result<ImagesPage, Ec2Error> {
    let now = v.now;
    let owned = req.owns(v.owner_id);
    if req.image_ids.is_empty()
        && req.filter_ids.is_none()
        && !req.owners.iter().all(|o| o == "self" || o == v.owner_id)
    {
        // Another owner's images, without IDs: public images, which the endpoint never lists.
        let msg = "amiwatch's endpoint does not list public images: ask Owner=self or name the images";
        return Err(Ec2Error::new(400, "InvalidParameterCombination", msg));
    }
    // What EC2 returns of an AMI now: deregistered ones for a while, disabled ones when asked.
    let find = |id: &str| {
        let img = lookup(s, id, v).filter(|_| owned)?;
        match img.state {
            SimState::Available => Some(img),
            SimState::Disabled => req.include_disabled.then_some(img),
            SimState::Deregistered(at) => {
                (now - at < Duration::minutes(DEREGISTERED_VISIBLE_MINUTES) && at <= now).then_some(img)
            }
        }
    };
    let mut all = Vec::new();
    if let (true, Some(ids)) = (req.image_ids.is_empty(), &req.filter_ids) {
        // Only the AMIs the filter names can match: look those up, not the whole account.
        let mut seen = std::collections::HashSet::new();
        all.extend(ids.iter().filter(|id| seen.insert(id.as_str())).filter_map(|id| find(id)));
    } else if req.image_ids.is_empty() {
        // The account's own AMIs (Owner=self): the fresh ones, then the others in the order
        // they were first exported (a fresh one exported since stays where it was), so pages
        // asked one after the other never repeat one.
        let mut seen = std::collections::HashSet::new();
        for f in &s.fresh.images {
            if seen.insert(f.id.as_str())
                && let Some(img) = find(&f.id)
            {
                all.push(img);
            }
        }
        for t in s.tasks.iter().rev().filter(|t| t.start <= now) {
            if seen.insert(t.ami_id.as_str())
                && let Some(img) = find(&t.ami_id)
            {
                all.push(img);
            }
        }
    } else {
        for id in &req.image_ids {
            match find(id) {
                Some(img) if !all.contains(&img) => all.push(img),
                Some(_) => {}
                None => {
                    let msg = format!("The image id '[{id}]' does not exist");
                    return Err(Ec2Error::new(400, "InvalidAMIID.NotFound", msg));
                }
            }
        }
    }
    if let (false, Some(ids)) = (req.image_ids.is_empty(), &req.filter_ids) {
        all.retain(|i| ids.contains(&i.id));
    }
    let from = req.next_token.unwrap_or(0).min(all.len());
    let Some(size) = req.max_results.or(unasked_page) else {
        return Ok(ImagesPage { images: all.split_off(from), next_token: None });
    };
    let end = from.saturating_add(size).min(all.len());
    let next_token = (end < all.len()).then(|| encode_token(end));
    Ok(ImagesPage { images: all[from..end].to_vec(), next_token })
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The XML answer.
pub fn describe_xml(page: &ImagesPage, request_id: &str) -> String {
    let images = &page.images;
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeImagesResponse xmlns=\"{XMLNS}\">\n    <requestId>{request_id}</requestId>\n    <imagesSet>\n"
    );
    for i in images {
        let _ = write!(
            out,
            "        <item>\n            <imageId>{}</imageId>\n            <imageState>{}</imageState>\n            <imageOwnerId>{}</imageOwnerId>\n            <isPublic>false</isPublic>\n            <name>{}</name>\n            <description>{}</description>\n            <creationDate>{}</creationDate>\n            <architecture>{}</architecture>\n            <imageType>machine</imageType>\n            <virtualizationType>hvm</virtualizationType>\n            <hypervisor>xen</hypervisor>\n",
            escape(&i.id),
            i.state.as_wire(),
            escape(&i.owner_id),
            escape(&i.name),
            escape(&i.description),
            time(i.created),
            i.arch
        );
        out.push_str("            <productCodes>\n");
        for code in &i.product_codes {
            let _ = writeln!(
                out,
                "                <item><productCode>{}</productCode><type>marketplace</type></item>",
                escape(code)
            );
        }
        out.push_str("            </productCodes>\n");
        let (root_type, root_name) =
            if i.instance_store { ("instance-store", "/dev/sda1") } else { ("ebs", "/dev/xvda") };
        let _ = write!(
            out,
            "            <rootDeviceType>{root_type}</rootDeviceType>\n            <rootDeviceName>{root_name}</rootDeviceName>\n            <blockDeviceMapping>\n"
        );
        if i.instance_store {
            out.push_str(
                "                <item><deviceName>/dev/sda1</deviceName><virtualName>ephemeral0</virtualName></item>\n",
            );
        }
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
    out.push_str("    </imagesSet>\n");
    if let Some(t) = &page.next_token {
        let _ = writeln!(out, "    <nextToken>{t}</nextToken>");
    }
    out.push_str("</DescribeImagesResponse>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::ScenarioShape;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().to_utc()
    }

    fn view(now: DateTime<Utc>) -> View<'static> {
        View { seed: 1, base: at(), now, marketplace_percent: 0, owner_id: "123456789012" }
    }

    fn params(s: &str) -> Params {
        Params::parse(s.as_bytes())
    }

    fn req(q: &str) -> ImagesRequest {
        ImagesRequest::from_params(&params(q)).unwrap()
    }

    fn code(q: &str) -> &'static str {
        ImagesRequest::from_params(&params(q)).unwrap_err().code
    }

    fn ids(page: &ImagesPage) -> Vec<&str> {
        page.images.iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn the_services_rules_hold() {
        let s = Scenario::generate(&ScenarioShape::builtin(), 200, 1, at());
        let amis: Vec<&str> = s.tasks.iter().map(|t| t.ami_id.as_str()).collect();
        let state = |a: &str| record_of(a, 1, at()).state;
        let gone = amis
            .iter()
            .find(|a| matches!(state(a), SimState::Deregistered(t) if at() - t > Duration::hours(1)))
            .expect("some AMI deregistered long ago");
        let live = amis.iter().find(|a| state(a) == SimState::Available).unwrap();
        let describe = |q: &str| describe(&s, &req(q), &view(at()), None);
        // ImageId.N naming a missing AMI fails the whole call.
        let e = describe(&format!("ImageId.1={live}&ImageId.2={gone}")).unwrap_err();
        assert_eq!(e.code, "InvalidAMIID.NotFound");
        // The image-id filter returns those that exist.
        let got = describe(&format!("Filter.1.Name=image-id&Filter.1.Value.1={live}&Filter.1.Value.2={gone}")).unwrap();
        assert_eq!(ids(&got), [*live]);
        assert_eq!(code(&format!("ImageId.1={live}&MaxResults=5")), "InvalidParameterCombination");
        assert!(ImagesRequest::from_params(&params("")).is_err(), "never every public image");
        let xml = describe_xml(&got, "r");
        assert!(xml.contains("<name>") && xml.contains("<volumeSize>") && xml.ends_with("</DescribeImagesResponse>"));
        assert!(xml.contains("<imageState>available</imageState>") && !xml.contains("<nextToken>"));
    }

    #[test]
    fn max_results_bounds_and_pages_and_tokens_are_checked() {
        for bad in ["0", "4", "1001", "100000", "-5", "x"] {
            assert_eq!(code(&format!("Owner.1=self&MaxResults={bad}")), "InvalidParameterValue", "{bad}");
        }
        assert_eq!(code("Owner.1=self&NextToken=garbage"), "InvalidParameterValue");
        assert_eq!(code("ImageId.1=ami-123"), "InvalidAMIID.Malformed");
        assert_eq!(code("Owner.1=self&IncludeDisabled=maybe"), "InvalidParameterValue");
        let s = Scenario::generate(&ScenarioShape::builtin(), 400, 1, at());
        let all = describe(&s, &req("Owner.1=self&IncludeDisabled=true"), &view(at()), None).unwrap();
        assert!(all.images.len() > 100 && all.next_token.is_none(), "no MaxResults: one answer");
        let mut paged = Vec::new();
        let mut q = "Owner.1=self&IncludeDisabled=true&MaxResults=5".to_string();
        for _ in 0..1000 {
            let page = describe(&s, &req(&q), &view(at()), None).unwrap();
            assert!(page.images.len() <= 5);
            paged.extend(page.images.iter().map(|i| i.id.clone()));
            match page.next_token {
                Some(t) => q = format!("Owner.1=self&IncludeDisabled=true&MaxResults=5&NextToken={t}"),
                None => break,
            }
        }
        assert_eq!(paged, ids(&all), "the pages together are the whole answer, each image once");
    }

    #[test]
    fn disabled_images_only_when_asked_and_the_just_deregistered_for_a_while() {
        let s = Scenario::generate(&ScenarioShape::builtin(), 400, 1, at());
        let without = describe(&s, &req("Owner.1=self"), &view(at()), None).unwrap();
        let with = describe(&s, &req("Owner.1=self&IncludeDisabled=true"), &view(at()), None).unwrap();
        let disabled: Vec<&SimImage> = with.images.iter().filter(|i| i.state == SimState::Disabled).collect();
        assert!(!disabled.is_empty(), "the scenario has disabled AMIs");
        assert!(without.images.iter().all(|i| i.state != SimState::Disabled));
        assert_eq!(without.images.len() + disabled.len(), with.images.len());
        let d = &disabled[0].id;
        assert_eq!(
            describe(&s, &req(&format!("ImageId.1={d}")), &view(at()), None).unwrap_err().code,
            "InvalidAMIID.NotFound"
        );
        assert!(describe_xml(&with, "r").contains("<imageState>disabled</imageState>"));
        let recent: Vec<String> =
            with.images.iter().filter(|i| matches!(i.state, SimState::Deregistered(_))).map(|i| i.id.clone()).collect();
        assert!(!recent.is_empty(), "some AMIs were deregistered within the hour");
        assert!(describe_xml(&with, "r").contains("<imageState>deregistered</imageState>"));
        // An hour on, they are gone.
        let later = at() + Duration::minutes(DEREGISTERED_VISIBLE_MINUTES);
        let q = format!("ImageId.1={}", recent[0]);
        assert_eq!(describe(&s, &req(&q), &view(later), None).unwrap_err().code, "InvalidAMIID.NotFound");
    }

    fn with_fresh(n: usize) -> Scenario {
        let mut s = Scenario::generate(&ScenarioShape::builtin(), 40, 1, at());
        s.fresh = std::sync::Arc::new(crate::sim::fresh::FreshSet::new(crate::sim::fresh::generate(n, 1, at())));
        s
    }

    proptest::proptest! {
        /// Whatever owners a client names, the answer holds only the account's own images,
        /// each once, or the request is refused: never a list of public images, never a panic.
        #[test]
        fn any_owner_is_answered_with_the_accounts_own_images_or_refused(
            owners in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("self".to_string()),
                    proptest::strategy::Just("123456789012".to_string()),
                    proptest::strategy::Just("amazon".to_string()),
                    "[0-9]{12}",
                    ".{0,16}",
                ],
                0..4,
            ),
            filter in proptest::bool::ANY,
        ) {
            let s = with_fresh(6);
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (i, o) in owners.iter().enumerate() {
                q.append_pair(&format!("Owner.{}", i + 1), o);
            }
            if filter {
                q.append_pair("Filter.1.Name", "image-id");
                q.append_pair("Filter.1.Value.1", &s.fresh.images[0].id);
            }
            let answer = ImagesRequest::from_params(&params(&q.finish())).and_then(|r| describe(&s, &r, &view(at()), None));
            match answer {
                Ok(page) => {
                    let mine = owners.is_empty() || owners.iter().any(|o| o == "self" || o == "123456789012");
                    proptest::prop_assert!(mine || page.images.is_empty());
                    let mut seen = std::collections::HashSet::new();
                    for i in &page.images {
                        proptest::prop_assert_eq!(i.owner_id.as_str(), "123456789012");
                        proptest::prop_assert!(seen.insert(i.id.clone()));
                    }
                }
                Err(e) => proptest::prop_assert!(
                    ["InvalidUserID.Malformed", "InvalidParameterCombination"].contains(&e.code),
                    "{}", e.code
                ),
            }
        }
    }

    #[test]
    fn owner_self_lists_the_fresh_amis_first_with_what_export_needs_to_know() {
        let mut s = with_fresh(6);
        let mut fresh = s.fresh.images.clone();
        fresh[1].instance_store = true;
        s.fresh = std::sync::Arc::new(crate::sim::fresh::FreshSet::new(fresh.clone()));
        let page = describe(&s, &req("Owner.1=self"), &view(at()), None).unwrap();
        let first: Vec<&str> = page.images.iter().take(6).map(|i| i.id.as_str()).collect();
        assert_eq!(first, fresh.iter().map(|f| f.id.as_str()).collect::<Vec<_>>());
        assert!(page.images.len() > 6, "then the exported ones");
        let xml = describe_xml(&page, "r");
        assert!(xml.contains("<imageOwnerId>123456789012</imageOwnerId>"));
        assert!(xml.contains("<rootDeviceType>instance-store</rootDeviceType>"));
        assert!(xml.contains("<virtualizationType>hvm</virtualizationType>"));
        let market = fresh.iter().find(|f| f.marketplace).unwrap();
        let code = market.product_code().unwrap();
        assert!(xml.contains(&format!("<item><productCode>{code}</productCode><type>marketplace</type></item>")));
        assert_eq!(size_of(&s, &market.id, 1, at()), market.size_gb);
        assert!(crate::ec2::client::xml_is_complete(xml.as_bytes()));
    }
}
