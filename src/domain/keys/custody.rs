//! Where the key-encryption key comes from: private signing keys are never stored in clear
//! unless the operator says so.
//!
//! 1. `TESSERA_KEY_ENCRYPTION_KEY`, when set, always wins.
//! 2. Otherwise the embedded default (SQLite) keeps its own key in the file
//!    [`KEY_FILE_NAME`] next to the database: made at first start (0600, from the OS
//!    CSPRNG), read at every later start. A copied database file, a dump or a backup of
//!    the database alone then holds no usable key; whoever can read the whole directory as
//!    Tessera's user still can, which is why the file must stay owner-only.
//! 3. Otherwise (Postgres) there is no key: configuration refuses that unless
//!    `TESSERA_ALLOW_PLAINTEXT_KEYS=true`, and every start warns.

use std::path::{Path, PathBuf};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;

use super::KeyError;
use crate::config::{self, Database, KeyConfig};
use crate::support::owner_only;

/// The embedded default's key-encryption key file, in the directory of the SQLite file.
pub const KEY_FILE_NAME: &str = "key-encryption-key";

/// The key-encryption key of this process and where it came from (for messages; never
/// the key itself).
pub struct Custody {
    pub key: Option<[u8; 32]>,
    pub source: String,
}

/// The key file of a SQLite database at `database`.
pub fn key_file(database: &Path) -> PathBuf {
    database
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(KEY_FILE_NAME)
}

/// Finds (or, for a fresh embedded default, makes) the key-encryption key.
/// `encrypted_keys_exist`: the database already holds encrypted keys, so a missing key file
/// is a lost key, not a first start.
pub fn resolve(
    keys: &KeyConfig,
    database: &Database,
    encrypted_keys_exist: bool,
) -> Result<Custody, KeyError> {
    if let Some(key) = &keys.encryption_key {
        return Ok(Custody {
            key: Some(*key.expose_secret()),
            source: "TESSERA_KEY_ENCRYPTION_KEY".into(),
        });
    }
    let path = match database {
        Database::Sqlite(database) => key_file(database),
        Database::Postgres(_) => {
            tracing::warn!(
                "TESSERA_ALLOW_PLAINTEXT_KEYS=true: private signing keys are stored unencrypted in the database; anyone who reads it or a backup of it can forge tokens. Set TESSERA_KEY_ENCRYPTION_KEY (`openssl rand -base64 32`)"
            );
            return Ok(Custody {
                key: None,
                source: "no key-encryption key".into(),
            });
        }
    };
    let source = format!("the key-encryption key file {}", path.display());
    let key = if path.exists() {
        read(&path)?
    } else if encrypted_keys_exist {
        return Err(KeyError::KeyFileMissing { path });
    } else {
        create(&path)?
    };
    Ok(Custody {
        key: Some(key),
        source,
    })
}

fn file_error(path: &Path, problem: impl Into<String>) -> KeyError {
    KeyError::KeyFile {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

/// Reads a key file: owner-only, one line of 32 bytes in base64 (or hex).
fn read(path: &Path) -> Result<[u8; 32], KeyError> {
    match owner_only::shared_mode(path) {
        Ok(None) => {}
        Ok(Some(mode)) => {
            return Err(file_error(
                path,
                format!(
                    "can be read by others (mode {mode:04o}); make it owner-only: chmod 600 {}",
                    path.display()
                ),
            ));
        }
        Err(err) => return Err(file_error(path, format!("cannot be read: {err}"))),
    }
    let text = std::fs::read_to_string(path)
        .map_err(|err| file_error(path, format!("cannot be read: {err}")))?;
    config::parse_encryption_key(text.trim()).map_err(|problem| {
        file_error(
            path,
            format!("{problem} (it must hold 32 random bytes in base64, one line)"),
        )
    })
}

/// Makes a new key file. It is written under a temporary name and linked into place, so
/// two processes starting at once on a fresh directory (a server and a CLI command) end up
/// with one key: the one that links second reads the first one's file.
fn create(path: &Path) -> Result<[u8; 32], KeyError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    owner_only::create_dir(dir)
        .map_err(|err| file_error(path, format!("cannot be created: {err}")))?;
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| file_error(path, "cannot be made: no randomness from the OS"))?;
    let temporary = dir.join(format!(
        ".{KEY_FILE_NAME}.{}",
        uuid::Uuid::new_v4().simple()
    ));
    let written =
        owner_only::create_file(&temporary, format!("{}\n", STANDARD.encode(key)).as_bytes())
            .and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match written {
        Ok(()) => {
            tracing::info!(file = %path.display(), "created the key-encryption key file; back it up apart from the database");
            Ok(key)
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(err) => Err(file_error(path, format!("cannot be created: {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_key_file_is_read_back_and_others_cannot_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join(KEY_FILE_NAME);
        let made = create(&path).unwrap();
        assert_eq!(read(&path).unwrap(), made);
        assert_eq!(owner_only::shared_mode(&path).unwrap(), None);
        assert_eq!(
            owner_only::shared_mode(path.parent().unwrap()).unwrap(),
            None
        );
        assert_eq!(
            create(&path).unwrap(),
            made,
            "a second start reads the first key"
        );
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temporary file left behind"
        );
    }

    #[test]
    fn the_key_file_sits_next_to_the_database() {
        assert_eq!(
            key_file(Path::new("data/tessera.db")),
            Path::new("data").join(KEY_FILE_NAME)
        );
        assert_eq!(
            key_file(Path::new("tessera.db")),
            Path::new(".").join(KEY_FILE_NAME)
        );
    }
}
