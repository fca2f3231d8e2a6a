//! The AWS profiles of this machine: the names in `~/.aws/config` and `~/.aws/credentials`
//! (or `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`), in the files' order, with the region
//! and account each says. `--profile` patterns (`acme-*`) expand over them, and a name that is
//! in neither file is refused before any request, with the closest that is.
//!
//! The files are read once, here; their contents go to aws-config's own profile parser, which
//! decides what a profile is and what it says (the same parser the credential chain uses). The
//! parser keeps no order, so a small scanner of the section headers gives the files' order.

use std::path::{Path, PathBuf};

use aws_runtime::env_config::file::{EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles};

/// One profile, as the files say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileEntry {
    pub name: String,
    pub region: Option<String>,
    /// `aws_account_id`, or `sso_account_id` for an SSO profile.
    pub account: Option<String>,
}

/// The profiles of the AWS config and credentials files, in the files' order.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    pub entries: Vec<ProfileEntry>,
    /// The two files, as read (a missing file is an empty one, as for the AWS CLI).
    pub files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfilesError {
    #[error("cannot read the AWS profile file {}: {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the AWS profile files cannot be parsed: {0}")]
    Parse(String),
    #[error("{0}")]
    NoMatch(String),
}

/// Where the AWS config and credentials files are: the environment's override, else `~/.aws/`.
pub fn file_paths(env: &dyn Fn(&str) -> Option<String>) -> [(ProfileFileKind, PathBuf); 2] {
    let home = env("HOME").map(PathBuf::from);
    let resolve = |var: &str, default: &str| -> PathBuf {
        let raw = env(var).unwrap_or_else(|| format!("~/.aws/{default}"));
        match (raw.strip_prefix("~/"), &home) {
            (Some(rest), Some(h)) => h.join(rest),
            _ => PathBuf::from(raw),
        }
    };
    [
        (ProfileFileKind::Config, resolve("AWS_CONFIG_FILE", "config")),
        (ProfileFileKind::Credentials, resolve("AWS_SHARED_CREDENTIALS_FILE", "credentials")),
    ]
}

impl Profiles {
    /// Reads the files of this process's environment.
    pub async fn load() -> Result<Self, ProfilesError> {
        Self::load_from(&|k| std::env::var(k).ok()).await
    }

    /// Reads the files `env` points at. A file that does not exist counts as empty.
    pub async fn load_from(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ProfilesError> {
        let mut read = Vec::new();
        for (kind, path) in file_paths(env) {
            let text = match std::fs::read(&path) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(ProfilesError::Read { path, source: e }),
            };
            read.push((kind, path, text));
        }
        Self::parse(&read).await
    }

    /// The profiles of files already read: `(kind, path, contents)`, config file first.
    pub async fn parse(files: &[(ProfileFileKind, PathBuf, String)]) -> Result<Self, ProfilesError> {
        let mut builder = ProfileFiles::builder();
        for (kind, _, text) in files {
            builder = builder.with_contents(*kind, text.clone());
        }
        // The contents are given: nothing is read from the file system or the environment.
        let (fs, env) =
            (aws_types::os_shim_internal::Fs::from_slice(&[]), aws_types::os_shim_internal::Env::from_slice(&[]));
        let set = aws_config::profile::load(&fs, &env, &builder.build(), None)
            .await
            .map_err(|e| ProfilesError::Parse(aws_sdk_ec2::error::DisplayErrorContext(&e).to_string()))?;
        let mut names: Vec<String> = Vec::new();
        for (kind, _, text) in files {
            for n in section_names(text, matches!(kind, ProfileFileKind::Config)) {
                if set.get_profile(&n).is_some() && !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        // Whatever the parser found that the scanner did not still counts, after the rest.
        let mut rest: Vec<String> =
            set.profiles().filter(|p| !names.iter().any(|n| n == p)).map(String::from).collect();
        rest.sort();
        names.extend(rest);
        let entries = names
            .into_iter()
            .map(|name| {
                let p = set.get_profile(&name);
                let get = |k: &str| p.and_then(|p| p.get(k)).map(str::trim).filter(|v| !v.is_empty()).map(String::from);
                ProfileEntry {
                    region: get("region"),
                    account: get("aws_account_id").or_else(|| get("sso_account_id")),
                    name,
                }
            })
            .collect();
        Ok(Self { entries, files: files.iter().map(|(_, p, _)| p.clone()).collect() })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    pub fn get(&self, name: &str) -> Option<&ProfileEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The files, for messages: `~/.aws/config and ~/.aws/credentials`.
    pub fn location(&self) -> String {
        let shown: Vec<String> = self.files.iter().map(|p| show(p)).collect();
        shown.join(" and ")
    }

    /// The profiles there are, for a message: `a, b, c` (at most 20, then how many more).
    fn listing(&self, first: &[&str]) -> String {
        if self.entries.is_empty() {
            return format!("there are no profiles in {}", self.location());
        }
        let mut order: Vec<&str> = first.to_vec();
        order.extend(self.names().filter(|n| !first.contains(n)));
        let shown: Vec<String> = order.iter().take(20).map(|n| crate::text::safe(n).into_owned()).collect();
        let more = order.len().saturating_sub(20);
        let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
        format!(
            "the profiles there are{}: {}{tail}",
            if first.is_empty() { "" } else { ", closest first" },
            shown.join(", ")
        )
    }

    /// Expands `--profile` values: a pattern (`*`, `?`) to every profile it matches in the
    /// files' order, a plain name to itself once checked. Duplicates are merged, first kept.
    pub fn expand(&self, wanted: &[String]) -> Result<Vec<String>, ProfilesError> {
        let mut out: Vec<String> = Vec::new();
        for w in wanted {
            if is_pattern(w) {
                let hits: Vec<&str> = self.names().filter(|n| glob_match(w, n)).collect();
                if hits.is_empty() {
                    return Err(ProfilesError::NoMatch(format!(
                        "the profile pattern '{}' matches no profile in {}; {}",
                        crate::text::safe(w),
                        self.location(),
                        self.listing(&[])
                    )));
                }
                out.extend(hits.into_iter().map(String::from));
            } else if self.get(w).is_some() || w == "default" {
                // `default` needs no section: the environment's keys are its credentials.
                out.push(w.clone());
            } else {
                let close = closest(w, self.names());
                let mut by_distance: Vec<&str> = self.names().collect();
                by_distance.sort_by_key(|n| strsim::damerau_levenshtein(w, n));
                return Err(ProfilesError::NoMatch(format!(
                    "the profile '{}' is not in {}{}; {}",
                    crate::text::safe(w),
                    self.location(),
                    close.map_or(String::new(), |c| format!(" (did you mean '{}'?)", crate::text::safe(c))),
                    self.listing(&by_distance)
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|n| seen.insert(n.clone()));
        Ok(out)
    }
}

/// Whether a `--profile` value is a pattern.
pub fn is_pattern(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// Shell-style matching: `*` any run of characters (none too), `?` exactly one, anything else
/// itself. Linear in practice: one backtrack point, the last `*`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                // The last `*` takes one more character, and matching goes on after it.
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The candidate nearest to `word` by edit distance, when it is near enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The profile names of one file's section headers, in order: `[profile NAME]` and
/// `[default]` in the config file, `[NAME]` in the credentials file. Total: any text gives a
/// list (which aws-config's parser then confirms), never a panic.
pub fn section_names(text: &str, config_file: bool) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        let Some(rest) = line.strip_prefix('[') else { continue };
        let Some(end) = rest.find(']') else { continue };
        let inner = rest[..end].trim();
        let name = if !config_file || inner == "default" {
            inner
        } else {
            match inner.strip_prefix("profile") {
                Some(n) if n.starts_with([' ', '\t']) => n.trim(),
                _ => continue,
            }
        };
        if !name.is_empty() {
            out.push(name.to_string());
        }
    }
    out
}

/// `amiwatch profiles [PATTERN]`: the profiles a pattern selects, with region and account.
pub fn print_listing(p: &Profiles, pattern: Option<&str>, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let rows: Vec<&ProfileEntry> =
        p.entries.iter().filter(|e| pattern.is_none_or(|pat| glob_match(pat, &e.name))).collect();
    let safe = |s: &str| crate::text::safe(s).into_owned();
    let width =
        rows.iter().map(|e| unicode_width::UnicodeWidthStr::width(safe(&e.name).as_str())).max().unwrap_or(0).max(7);
    let rwidth = rows.iter().filter_map(|e| e.region.as_deref()).map(|r| safe(r).len()).max().unwrap_or(0).max(6);
    writeln!(out, "{:<width$}  {:<rwidth$}  ACCOUNT", "PROFILE", "REGION")?;
    for e in rows {
        let name = safe(&e.name);
        let pad = width.saturating_sub(unicode_width::UnicodeWidthStr::width(name.as_str()));
        let region = e.region.as_deref().map_or("-".into(), safe);
        let account = e.account.as_deref().map_or("-".into(), safe);
        writeln!(out, "{name}{:pad$}  {region:<rwidth$}  {account}", "")?;
    }
    Ok(())
}

/// A path for messages, as given, with terminal controls escaped.
pub fn show(path: &Path) -> String {
    crate::text::safe(&path.display().to_string()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_a_shell() {
        assert!(glob_match("acme-*", "acme-prod.Admin"));
        assert!(glob_match("acme-*", "acme-"));
        assert!(!glob_match("acme-*", "other"));
        assert!(glob_match("*.Admin", "acme-dev.Admin"));
        assert!(glob_match("acme-???", "acme-dev"));
        assert!(!glob_match("acme-???", "acme-prod"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("?", ""));
    }

    #[test]
    fn headers_are_read_in_order() {
        let cfg = "[default]\nregion=us-east-1\n[profile b]\n[sso-session s]\n  [profile  a ]\n[profile]\n[profilex]\n";
        assert_eq!(section_names(cfg, true), ["default", "b", "a"]);
        assert_eq!(section_names("[x]\n[y\n# [z]\n[w]", false), ["x", "w"]);
    }

    fn files(config: &str, creds: &str) -> Vec<(ProfileFileKind, PathBuf, String)> {
        vec![
            (ProfileFileKind::Config, "/c/config".into(), config.into()),
            (ProfileFileKind::Credentials, "/c/credentials".into(), creds.into()),
        ]
    }

    #[tokio::test]
    async fn profiles_come_in_the_files_order_with_region_and_account() {
        let cfg = "[profile zeta]\nregion = eu-west-1\naws_account_id = 111\n[profile acme-b]\nsso_account_id = 222\n[default]\n";
        let creds = "[acme-a]\naws_access_key_id = x\n[zeta]\naws_access_key_id = y\n";
        let p = Profiles::parse(&files(cfg, creds)).await.unwrap();
        let names: Vec<&str> = p.names().collect();
        assert_eq!(names, ["zeta", "acme-b", "default", "acme-a"]);
        assert_eq!(p.get("zeta").unwrap().region.as_deref(), Some("eu-west-1"));
        assert_eq!(p.get("acme-b").unwrap().account.as_deref(), Some("222"));
        let want = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(p.expand(&want(&["acme-*", "zeta", "acme-a"])).unwrap(), want(&["acme-b", "acme-a", "zeta"]));
        let e = p.expand(&want(&["nope-*"])).unwrap_err().to_string();
        assert!(e.contains("'nope-*' matches no profile") && e.contains("zeta, acme-b, default, acme-a"), "{e}");
        let e = p.expand(&want(&["zetta"])).unwrap_err().to_string();
        assert!(e.contains("'zetta' is not in /c/config and /c/credentials (did you mean 'zeta'?)"), "{e}");
        assert!(e.contains("closest first: zeta, "), "{e}");
    }
}
