//! Files only Tessera's own user may read: the SQLite database (with its `-wal` and `-shm`),
//! the embedded default's key-encryption key and the development outbox. Modes are set
//! explicitly (0700 directories, 0600 files) rather than left to the umask, which is 022 on
//! most systems and would make them world-readable.

use std::io::{self, Write};
use std::path::Path;

/// Creates `dir` and its missing parents, owner-only. A directory that exists already is
/// left as it is: it may be shared (`/tmp`, a mounted volume) and is not ours to change;
/// the files Tessera puts in it are owner-only themselves.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        set_mode(dir, 0o700)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Creates the file `path` with `contents`, owner-only, written and synced before this
/// returns; fails with `AlreadyExists` if there is a file there. Atomic: the contents go to
/// a hidden temporary file in the same directory first, then a hard link makes it appear
/// whole, so no reader (another replica starting, a tool watching the outbox) ever sees it
/// empty or half-written.
pub fn create_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let temporary = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| {
        let mut file = options.open(&temporary)?;
        // The umask can only take bits away from 0600; set it exactly anyway.
        restrict(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        // Fails with AlreadyExists when `path` exists, as create_new would.
        std::fs::hard_link(&temporary, path)
    })();
    let _ = std::fs::remove_file(&temporary);
    written
}

/// Makes an existing file owner-only (0600).
pub fn restrict(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    return set_mode(path, 0o600);
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// The permission bits of `path` when its group or others may access it; `None` when only
/// its owner may.
pub fn shared_mode(path: &Path) -> io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        Ok((mode & 0o077 != 0).then_some(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_directories_are_owner_only_whatever_the_umask() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(shared_mode(&dir).unwrap(), None);
        let file = dir.join("f");
        create_file(&file, b"x").unwrap();
        assert_eq!(shared_mode(&file).unwrap(), None);
        assert_eq!(
            create_file(&file, b"y").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
        std::fs::write(root.path().join("g"), b"").unwrap();
        #[cfg(unix)]
        {
            set_mode(&root.path().join("g"), 0o644).unwrap();
            assert_eq!(shared_mode(&root.path().join("g")).unwrap(), Some(0o644));
            restrict(&root.path().join("g")).unwrap();
            assert_eq!(shared_mode(&root.path().join("g")).unwrap(), None);
        }
    }
}
