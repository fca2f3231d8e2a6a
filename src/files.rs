//! The one way amiwatch creates a file (the log file the user names aside): new files only,
//! never through a symlink, never over another file, readable by the owner alone.
//!
//! An export lands in the current directory under a name anyone can guess from the clock
//! (`amiwatch-YYYYMMDD-HHMMSS.csv`); a name planted there as a symlink must not turn the export
//! into a write somewhere else, and two exports in one second must not overwrite each other.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Names tried after the first (`stem-2.ext` .. `stem-100.ext`) before giving up: a bound a
/// directory full of planted names cannot turn into an endless loop.
pub const MAX_OTHER_NAMES: u32 = 99;

/// Why a file could not be created.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot create a new file for {first}: that name and the next {MAX_OTHER_NAMES} are taken")]
    NoFreeName { first: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Opens a new file at `path` for writing, mode 0600: fails when anything is there already,
/// a symlink too (dangling or not), so nothing is ever followed or replaced.
pub fn create_new(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // `create_new` is O_CREAT|O_EXCL, which already refuses a symlink; O_NOFOLLOW says so
        // twice, and O_CLOEXEC keeps the file from a child process.
        o.mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    o.open(path)
}

/// Creates a new file `stem.ext` in `dir`, or `stem-2.ext`, `stem-3.ext`, ... when the name is
/// taken: the file and the path it has.
pub fn create_unique(dir: &Path, stem: &str, ext: &str) -> Result<(File, PathBuf), FileError> {
    let first = dir.join(format!("{stem}.{ext}"));
    for n in 1..=MAX_OTHER_NAMES + 1 {
        let path = if n == 1 { first.clone() } else { dir.join(format!("{stem}-{n}.{ext}")) };
        match create_new(&path) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(FileError::Create { path, source }),
        }
    }
    Err(FileError::NoFreeName { first })
}

/// Writes `bytes` to `path` so that a reader sees the old file or the new one, never half of
/// one, and the new one survives a crash: a temporary file beside it (created new, 0600),
/// written, flushed to disk, renamed over `path` (a symlink there is replaced, not followed),
/// and the directory flushed so the rename itself is kept.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "amiwatch".into());
    let stem = format!(".{name}.tmp-{}", std::process::id());
    let (mut file, tmp) = create_unique(&dir, &stem, "part")?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
    if let Err(source) = renamed {
        let _ = std::fs::remove_file(&tmp);
        return Err(FileError::Write { path: path.to_path_buf(), source });
    }
    sync_dir(&dir).map_err(|source| FileError::Write { path: path.to_path_buf(), source })
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("amiwatch-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn two_files_of_one_name_get_two_names() {
        let d = tempdir("unique");
        let (_, a) = create_unique(&d, "amiwatch-20261129-212500", "csv").unwrap();
        let (_, b) = create_unique(&d, "amiwatch-20261129-212500", "csv").unwrap();
        assert_eq!(a, d.join("amiwatch-20261129-212500.csv"));
        assert_eq!(b, d.join("amiwatch-20261129-212500-2.csv"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_is_neither_followed_nor_replaced() {
        let d = tempdir("symlink");
        let victim = d.join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        std::os::unix::fs::symlink(&victim, d.join("out.csv")).unwrap();
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("out-2.csv")).unwrap();
        let (mut f, p) = create_unique(&d, "out", "csv").unwrap();
        f.write_all(b"data").unwrap();
        assert_eq!(p, d.join("out-3.csv"));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(!d.join("nowhere").exists(), "a dangling link is not followed either");
        assert_eq!(mode(&p), 0o600);
        assert!(create_new(&d.join("out.csv")).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn names_run_out_with_an_error_not_a_loop() {
        let d = tempdir("full");
        std::fs::write(d.join("x.csv"), "").unwrap();
        for n in 2..=MAX_OTHER_NAMES + 1 {
            std::fs::write(d.join(format!("x-{n}.csv")), "").unwrap();
        }
        assert!(matches!(create_unique(&d, "x", "csv"), Err(FileError::NoFreeName { .. })));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_replaces_whole_with_mode_0600_and_leaves_no_temporary() {
        let d = tempdir("atomic");
        let plan = d.join("plan.json");
        write_atomic(&plan, b"first").unwrap();
        write_atomic(&plan, b"second").unwrap();
        assert_eq!(std::fs::read_to_string(&plan).unwrap(), "second");
        assert_eq!(mode(&plan), 0o600);
        // A symlink at the name is replaced by the file, its target untouched.
        let victim = d.join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let link = d.join("link.json");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write_atomic(&link, b"plan").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(!std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 3, "no temporary file left: {left:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
