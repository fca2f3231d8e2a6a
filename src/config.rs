//! The config file: `$XDG_CONFIG_HOME/amiwatch/config.toml` (or `~/.config/amiwatch/`), or
//! `--config FILE` / `AMIWATCH_CONFIG`. Its keys are the long flags' names and its values go
//! through the flags' own parsers, so a file says exactly what a command line can, checked the
//! same way; a flag on the command line (or its environment variable) wins over the file.
//!
//! ```toml
//! profile = ["acme-*"]
//! region = ["us-east-1", "eu-west-1"]
//! interval = "10s"
//! notify = "all"
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::ArgAction;
use toml::Spanned;

/// One setting of the file, checked, as the arguments it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, which is the flag's long name (`interval`).
    pub key: String,
    /// The flag's clap id (`interval`, `profiles`).
    pub id: String,
    /// `--interval=10s`, or `--all-regions`; none for a flag set to false.
    pub args: Vec<OsString>,
    /// 1-based line of the key.
    pub line: usize,
}

/// A config file, read and checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

/// Why a config file is refused: the file, the line and the key, then what is wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{}", .0)]
pub struct ConfigError(pub String);

/// Keys that are flags but no setting, and why.
fn not_a_setting(key: &str) -> Option<&'static str> {
    Some(match key {
        "help" | "version" | "config" => "is not a setting",
        "demo" | "once" | "wait" | "dry-run" => {
            "chooses a mode, which a config file cannot: pass it on the command line"
        }
        "max-items" | "starting-token" => "belongs to one run: pass it on the command line",
        "tasks" | "seed" | "frozen" | "speed" | "fault-throttle" | "fault-internal" | "fault-slow"
        | "fault-slow-delay" | "fault-drop" | "fault-malformed" => {
            "shapes the simulated account: pass it on the command line with --demo"
        }
        _ => return None,
    })
}

/// The flags a config file may set, in `--help`'s order.
pub fn setting_args(cmd: &clap::Command) -> impl Iterator<Item = &clap::Arg> {
    cmd.get_arguments().filter(|a| a.get_long().is_some_and(|l| not_a_setting(l).is_none()))
}

/// The default file: `$XDG_CONFIG_HOME/amiwatch/config.toml`, else `~/.config/amiwatch/config.toml`.
pub fn default_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = match env("XDG_CONFIG_HOME").filter(|x| Path::new(x).is_absolute()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(env("HOME").filter(|h| !h.is_empty())?).join(".config"),
    };
    Some(base.join("amiwatch").join("config.toml"))
}

/// Reads the file at `path`. `explicit` (named by `--config` or `AMIWATCH_CONFIG`): a
/// missing file is an error; the default file may be missing.
pub fn load(path: &Path, explicit: bool, cmd: &clap::Command) -> Result<Option<ConfigFile>, ConfigError> {
    let shown = crate::profiles::show(path);
    let text = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) => return Err(ConfigError(format!("cannot read the config file {shown}: {e}"))),
    };
    let text = String::from_utf8(text)
        .map_err(|_| ConfigError(format!("the config file {shown} is not UTF-8 text: TOML files are")))?;
    parse(path, &text, cmd).map(Some)
}

/// 1-based line of a byte offset.
fn line_of(text: &str, at: usize) -> usize {
    text.get(..at).unwrap_or(text).matches('\n').count() + 1
}

/// Checks a config file's text against the flags of `cmd`. Total: any text gives entries or
/// one error naming the file, the line and the key.
pub fn parse(path: &Path, text: &str, cmd: &clap::Command) -> Result<ConfigFile, ConfigError> {
    let shown = crate::profiles::show(path);
    let table: std::collections::BTreeMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(String::new(), |s| format!(" line {}", line_of(text, s.start)));
            let msg = e.message().trim().trim_end_matches('.');
            ConfigError(format!("{shown}{line}: not valid TOML: {}", crate::text::safe(msg)))
        })?;
    let mut items: Vec<(Spanned<String>, Spanned<toml::Value>)> = table.into_iter().collect();
    items.sort_by_key(|(k, _)| k.span().start);
    let keys: Vec<&str> = setting_args(cmd).filter_map(|a| a.get_long()).collect();
    let mut entries = Vec::new();
    for (key, value) in items {
        let line = line_of(text, key.span().start);
        let name = key.get_ref().as_str();
        let at = |what: String| ConfigError(format!("{shown} line {line}: key '{}' {what}", crate::text::safe(name)));
        if let Some(why) = not_a_setting(name) {
            return Err(at(why.into()));
        }
        let Some(arg) = setting_args(cmd).find(|a| a.get_long() == Some(name)) else {
            let hint = crate::profiles::closest(name, keys.iter().copied())
                .map_or(String::new(), |c| format!(" (did you mean '{c}'?)"));
            return Err(at(format!("is not a setting{hint}: the keys are the long flags' names, as in --help")));
        };
        let long = format!("--{name}");
        let many = matches!(arg.get_action(), ArgAction::Append);
        let flag = matches!(arg.get_action(), ArgAction::SetTrue);
        let scalar = |v: &toml::Value| -> Option<String> {
            match v {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Integer(i) => Some(i.to_string()),
                toml::Value::Float(f) => Some(f.to_string()),
                _ => None,
            }
        };
        let wanted = if flag {
            "true or false"
        } else if many {
            "a string or a list of strings"
        } else {
            "a string or a number"
        };
        let wrong = || at(format!("takes {wanted}, not {}", type_name(value.get_ref())));
        let args: Vec<OsString> = match (value.get_ref(), flag, many) {
            (toml::Value::Boolean(b), true, _) => {
                if *b {
                    vec![long.clone().into()]
                } else {
                    Vec::new()
                }
            }
            (_, true, _) => return Err(wrong()),
            (toml::Value::Array(vs), false, true) => {
                let mut out = Vec::new();
                for v in vs {
                    out.push(format!("{long}={}", scalar(v).ok_or_else(wrong)?).into());
                }
                out
            }
            (v, false, _) => vec![format!("{long}={}", scalar(v).ok_or_else(wrong)?).into()],
        };
        // The flag's own parser checks the value, as on a command line.
        if !args.is_empty() {
            let mut alone = vec![OsString::from("amiwatch")];
            alone.extend(args.iter().cloned());
            if let Err(e) = cmd.clone().try_get_matches_from(alone) {
                let why = std::error::Error::source(&e).map_or_else(|| clap_reason(&e), |s| s.to_string());
                return Err(at(format!("has a bad value: {why}")));
            }
        }
        entries.push(Entry { key: name.to_string(), id: arg.get_id().to_string(), args, line });
    }
    Ok(ConfigFile { path: path.to_path_buf(), entries })
}

fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "true or false",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

/// What a clap error says, in one line, without its usage and help lines.
pub fn clap_reason(e: &clap::Error) -> String {
    let text = e.to_string();
    let mut parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .collect();
    if let Some(first) = parts.first_mut() {
        *first = first.strip_prefix("error: ").unwrap_or(first);
    }
    // "not provided:" and "[possible values: ...]" continue the sentence before them.
    let mut line = String::new();
    for p in parts {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') || p.starts_with('[') { " " } else { "; " });
        }
        line.push_str(p);
    }
    line
}

/// Where a setting's value came from, for `amiwatch config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File { line: usize },
    Environment(String),
    CommandLine,
    Unset,
}

/// One line of `amiwatch config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    /// In TOML: `"10s"`, `["a", "b"]`, `true`.
    pub value: Option<String>,
    pub origin: Origin,
}

/// Every setting as the parsed flags have it, and where each came from.
pub fn settings(
    cmd: &clap::Command,
    m: &clap::ArgMatches,
    file: Option<&ConfigFile>,
    applied: &[String],
) -> Vec<Setting> {
    use clap::parser::ValueSource;
    let mut out = Vec::new();
    for arg in setting_args(cmd) {
        let (Some(key), id) = (arg.get_long(), arg.get_id().as_str()) else { continue };
        let raw: Vec<String> = m
            .try_get_raw(id)
            .ok()
            .flatten()
            .map(|vs| vs.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let from_file =
            file.and_then(|f| f.entries.iter().find(|e| e.id == id)).filter(|_| applied.iter().any(|a| a == id));
        let origin = match m.value_source(id) {
            Some(ValueSource::DefaultValue) => Origin::Default,
            Some(ValueSource::EnvVariable) => {
                Origin::Environment(arg.get_env().map_or(String::new(), |e| e.to_string_lossy().into_owned()))
            }
            Some(_) => from_file.map_or(Origin::CommandLine, |e| Origin::File { line: e.line }),
            None => Origin::Unset,
        };
        let flag = matches!(arg.get_action(), ArgAction::SetTrue);
        let value = match (&origin, flag) {
            (Origin::Unset, true) => Some("false".to_string()),
            (Origin::Unset, false) => None,
            (_, true) => Some(if raw.first().is_some_and(|v| v == "true") { "true" } else { "false" }.to_string()),
            (_, false) if matches!(arg.get_action(), ArgAction::Append) => {
                Some(format!("[{}]", raw.iter().map(|v| toml_str(v)).collect::<Vec<_>>().join(", ")))
            }
            (_, false) => raw.first().map(|v| if v.parse::<i64>().is_ok() { v.clone() } else { toml_str(v) }),
        };
        let origin = if flag && origin == Origin::Unset { Origin::Default } else { origin };
        out.push(Setting { key: key.to_string(), value, origin });
    }
    out
}

/// A TOML string: quoted, with `"`, `\` and control characters escaped.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `amiwatch config`: the effective settings as a config file, each with where it came from.
pub fn print(
    settings: &[Setting],
    file: Option<&Path>,
    searched: Option<&Path>,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    match (file, searched) {
        (Some(f), _) => writeln!(out, "# config file: {}", crate::profiles::show(f))?,
        (None, Some(s)) => writeln!(out, "# config file: none ({} does not exist)", crate::profiles::show(s))?,
        (None, None) => writeln!(out, "# config file: none (no HOME or XDG_CONFIG_HOME to look in)")?,
    }
    let lines: Vec<(String, String)> = settings
        .iter()
        .map(|s| {
            let left = match &s.value {
                Some(v) => format!("{} = {v}", s.key),
                None => format!("# {}", s.key),
            };
            let origin = match &s.origin {
                Origin::Default => "default".to_string(),
                Origin::File { line } => format!("file, line {line}"),
                Origin::Environment(var) => format!("environment ({var})"),
                Origin::CommandLine => "command line".to_string(),
                Origin::Unset => "not set".to_string(),
            };
            (crate::text::safe(&left).into_owned(), origin)
        })
        .collect();
    let width = lines.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0).min(48);
    for (left, origin) in lines {
        let pad = width.saturating_sub(left.chars().count());
        writeln!(out, "{left}{:pad$}  # {origin}", "")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<ConfigFile, ConfigError> {
        parse(Path::new("/x/config.toml"), text, &crate::cli::command())
    }

    #[test]
    fn keys_are_flags_and_values_go_through_their_parsers() {
        let f = parse_str(
            "profile = [\"acme-*\"]\nregion = \"eu-west-1\"\ninterval = \"10s\"\nall-regions = false\npage-size = 50\n",
        )
        .unwrap();
        let args: Vec<Vec<OsString>> = f.entries.iter().map(|e| e.args.clone()).collect();
        assert_eq!(args[0], vec![OsString::from("--profile=acme-*")]);
        assert_eq!(f.entries[2].line, 3);
        assert!(args[3].is_empty(), "false sets nothing");
        assert_eq!(args[4], vec![OsString::from("--page-size=50")]);
    }

    #[test]
    fn bad_files_name_the_file_line_and_key() {
        for (text, want) in [
            (
                "interval = \"10s\"\nintervall = \"5s\"\n",
                "/x/config.toml line 2: key 'intervall' is not a setting (did you mean 'interval'?)",
            ),
            ("\n\ninterval = \"soon\"\n", "line 3: key 'interval' has a bad value: 'soon' is not a duration"),
            ("notify = \"sometimes\"\n", "line 1: key 'notify' has a bad value: invalid value 'sometimes'"),
            ("region = 5.5\nall-regions = \"yes\"\n", "line 1: key 'region' has a bad value"),
            ("all-regions = \"yes\"\n", "line 1: key 'all-regions' takes true or false, not a string"),
            ("interval = [\"5s\"]\n", "key 'interval' takes a string or a number, not a list"),
            ("once = true\n", "key 'once' chooses a mode"),
            ("seed = 3\n", "with --demo"),
            ("interval = \"5s\n", "/x/config.toml line 1: not valid TOML"),
        ] {
            let e = parse_str(text).unwrap_err().0;
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn the_documented_example_is_a_valid_file() {
        let f = parse_str(crate::manual::ORG_EXAMPLE).unwrap();
        let keys: Vec<&str> = f.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["profile", "all-regions", "exclude-region", "interval", "idle-interval", "notify"]);
        assert_eq!(f.entries[0].line, 2);
    }

    #[test]
    fn the_store_quota_is_a_setting_checked_by_its_flag() {
        let f = parse_str("store-quota = 1200\n").unwrap();
        assert_eq!(f.entries[0].args, vec![OsString::from("--store-quota=1200")]);
        let e = parse_str("store-quota = 0\n").unwrap_err().0;
        assert!(e.contains("store-quota") && e.contains("not a store quota"), "{e}");
    }

    #[test]
    fn strings_are_written_back_as_toml() {
        assert_eq!(toml_str("a\"b\\c\u{1b}"), "\"a\\\"b\\\\c\\u001B\"");
    }
}
