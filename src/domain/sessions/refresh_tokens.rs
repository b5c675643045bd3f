//! Refresh tokens: what one carries, how it is minted and how it is recognised.
//!
//! A refresh token is 73 bytes in base64url, 98 characters:
//!
//! ```text
//! version (1) | session id (16) | generation (8, big-endian) | secret (32) | tag (16)
//! ```
//!
//! - The **version** says whose token it is: 1 for a Tessera session (`POST /token`), 2
//!   for a grant to another app (`POST /oauth2/token`). Each endpoint refuses the other's
//!   tokens before any database work, so an app's refresh token never becomes a Tessera
//!   session, and a Tessera session's never an app's grant.
//! - The **secret** is 256 bits from the OS CSPRNG. The database keeps only the SHA-256 of
//!   the whole token, for a session's current token and the one it replaced: a dump holds
//!   nothing that can be presented.
//! - The **generation** is 1 for a session's first token and one more at each rotation.
//! - The **tag** is HMAC-SHA256, cut to 128 bits, under a server key, over everything before
//!   it. It proves that Tessera issued this token for this session and generation.
//!
//! The tag is what lets a session keep two rows however often it refreshes: a token of an
//! earlier generation, whose row is gone, is still recognised as its session's, and
//! presenting it is reuse (the session is revoked). A token with a wrong tag is refused
//! before any database work, so naming someone else's session in a forged token harms
//! nobody. Whoever holds the server key can make tags, but not the secret of a current
//! token: the key alone (or with a database dump) lets no one in; at worst it lets one
//! present an "earlier" token and end a session.
//!
//! The key is derived from the key-encryption key where there is one (so it is in no
//! database dump), else a random secret shared by the replicas through the database, like
//! the other server secrets.
//!
//! Tokens issued before generations (43 characters: 32 random bytes) keep working: they are
//! found by their hash, and their successor is of this format.

use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::domain::keys::secrets::shared_secret;
use crate::store::{Store, StoreError};
use crate::support::clock::Clock;

/// The server secret's name where there is no key-encryption key.
const SECRET_NAME: &str = "refresh-token-mac";
const SESSION_VERSION: u8 = 1;
const GRANT_VERSION: u8 = 2;
const SECRET_BYTES: usize = 32;
const TAG_BYTES: usize = 16;
/// Where the tag starts: version, session id, generation, secret.
const TAGGED_BYTES: usize = 1 + 16 + 8 + SECRET_BYTES;
const TOKEN_BYTES: usize = TAGGED_BYTES + TAG_BYTES;
/// A token in base64url without padding.
const TOKEN_CHARS: usize = (TOKEN_BYTES * 4).div_ceil(3);
/// A token issued before generations: 32 random bytes in base64url.
const LEGACY_CHARS: usize = 43;
/// Domain separation for the tag.
const TAG_CONTEXT: &[u8] = b"tessera refresh token v1\0";

/// Whose session a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A Tessera session, refreshed at `POST /token`.
    Session,
    /// A grant to another app (Tessera as an OAuth provider), refreshed at
    /// `POST /oauth2/token`.
    Grant,
}

/// The session and generation a token was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lineage {
    pub session_id: Uuid,
    pub generation: i64,
    pub kind: TokenKind,
}

impl Lineage {
    /// A Tessera session's first token.
    pub fn first(session_id: Uuid) -> Self {
        Self::first_of(session_id, TokenKind::Session)
    }

    /// The first token of a session of `kind`.
    pub fn first_of(session_id: Uuid, kind: TokenKind) -> Self {
        Self {
            session_id,
            generation: 1,
            kind,
        }
    }

    /// The token that replaces this one.
    pub fn next(self) -> Self {
        Self {
            generation: self.generation + 1,
            ..self
        }
    }
}

/// What a presented string is, before the database is asked anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// A token issued before generations: only its hash finds its session.
    Legacy,
    /// A token Tessera issued, for this session and generation.
    Issued(Lineage),
}

/// A refresh token in the clear and the hash the database keeps.
pub struct Minted {
    pub token: String,
    pub hash: Vec<u8>,
}

/// SHA-256 of a refresh token, as stored in `refresh_tokens.token_hash`.
pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}

/// Mints and recognises refresh tokens.
pub struct RefreshTokens {
    key: hmac::Key,
    rng: SystemRandom,
}

impl RefreshTokens {
    /// The purpose the MAC key is derived for from the key-encryption key.
    pub const DERIVED_PURPOSE: &'static str = "refresh-token-mac";

    /// Tokens tagged under `derived` (what
    /// [`crate::domain::keys::KeyService::derived_secret`] gives for
    /// [`RefreshTokens::DERIVED_PURPOSE`]) or, without one, under a random secret shared
    /// through the database.
    pub async fn load(
        store: &Arc<dyn Store>,
        clock: &Arc<dyn Clock>,
        derived: Option<[u8; 32]>,
    ) -> Result<Self, StoreError> {
        let secret = shared_secret(store.as_ref(), clock.as_ref(), SECRET_NAME, derived).await?;
        Ok(Self::with_secret(&secret))
    }

    /// Tokens tagged under `secret`.
    pub fn with_secret(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            rng: SystemRandom::new(),
        }
    }

    fn tag(&self, tagged: &[u8]) -> [u8; TAG_BYTES] {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(TAG_CONTEXT);
        context.update(tagged);
        let full = context.sign();
        let mut tag = [0u8; TAG_BYTES];
        tag.copy_from_slice(&full.as_ref()[..TAG_BYTES]);
        tag
    }

    /// A new token of `lineage`.
    pub fn mint(&self, lineage: Lineage) -> Minted {
        let mut bytes = [0u8; TOKEN_BYTES];
        bytes[0] = match lineage.kind {
            TokenKind::Session => SESSION_VERSION,
            TokenKind::Grant => GRANT_VERSION,
        };
        bytes[1..17].copy_from_slice(lineage.session_id.as_bytes());
        // Generations start at 1 and grow by one a refresh: never negative.
        bytes[17..25].copy_from_slice(&(lineage.generation as u64).to_be_bytes());
        self.rng
            .fill(&mut bytes[25..TAGGED_BYTES])
            .expect("the OS random generator");
        let tag = self.tag(&bytes[..TAGGED_BYTES]);
        bytes[TAGGED_BYTES..].copy_from_slice(&tag);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        Minted {
            hash: hash_refresh_token(&token),
            token,
        }
    }

    /// What `token` is; `None` for anything Tessera did not issue (wrong length or
    /// alphabet, unknown version, wrong tag), which is refused without asking the
    /// database.
    pub fn parse(&self, token: &str) -> Option<Presented> {
        match token.len() {
            LEGACY_CHARS => base64url(token).then_some(Presented::Legacy),
            TOKEN_CHARS => self.parse_issued(token).map(Presented::Issued),
            _ => None,
        }
    }

    fn parse_issued(&self, token: &str) -> Option<Lineage> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let bytes: [u8; TOKEN_BYTES] = bytes.try_into().ok()?;
        let kind = match bytes[0] {
            SESSION_VERSION => TokenKind::Session,
            GRANT_VERSION => TokenKind::Grant,
            _ => return None,
        };
        let tag = self.tag(&bytes[..TAGGED_BYTES]);
        verify_slices_are_equal(&tag, &bytes[TAGGED_BYTES..]).ok()?;
        let session_id = Uuid::from_slice(&bytes[1..17]).ok()?;
        let generation = u64::from_be_bytes(bytes[17..25].try_into().ok()?);
        Some(Lineage {
            session_id,
            generation: i64::try_from(generation).ok()?,
            kind,
        })
    }
}

fn base64url(token: &str) -> bool {
    token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> RefreshTokens {
        RefreshTokens::with_secret(b"a test secret of some thirty-two bytes")
    }

    #[test]
    fn a_minted_token_names_its_session_and_generation() {
        let tokens = tokens();
        let lineage = Lineage {
            session_id: Uuid::new_v4(),
            generation: 7,
            kind: TokenKind::Session,
        };
        let minted = tokens.mint(lineage);
        assert_eq!(minted.token.len(), 98);
        assert_eq!(minted.hash, hash_refresh_token(&minted.token));
        assert_eq!(
            tokens.parse(&minted.token),
            Some(Presented::Issued(lineage))
        );
        assert_ne!(tokens.mint(lineage).token, minted.token, "fresh secret");
    }

    #[test]
    fn a_token_with_any_byte_changed_is_not_recognised() {
        let tokens = tokens();
        let minted = tokens.mint(Lineage::first(Uuid::new_v4()));
        let bytes = URL_SAFE_NO_PAD.decode(&minted.token).unwrap();
        for at in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[at] ^= 0x01;
            let forged = URL_SAFE_NO_PAD.encode(&changed);
            assert_eq!(tokens.parse(&forged), None, "byte {at} changed");
        }
    }

    #[test]
    fn a_grant_token_is_told_apart_from_a_session_token() {
        let tokens = tokens();
        let id = Uuid::new_v4();
        let grant = tokens.mint(Lineage::first_of(id, TokenKind::Grant));
        let session = tokens.mint(Lineage::first(id));
        assert_eq!(
            tokens.parse(&grant.token),
            Some(Presented::Issued(Lineage::first_of(id, TokenKind::Grant)))
        );
        assert_eq!(
            tokens.parse(&session.token),
            Some(Presented::Issued(Lineage::first(id)))
        );
        // The version byte is under the tag: changing it is a forgery.
        let mut bytes = URL_SAFE_NO_PAD.decode(&grant.token).unwrap();
        bytes[0] = 1;
        assert_eq!(tokens.parse(&URL_SAFE_NO_PAD.encode(&bytes)), None);
    }

    #[test]
    fn a_token_of_another_key_is_not_recognised() {
        let other = RefreshTokens::with_secret(b"another secret");
        let minted = other.mint(Lineage::first(Uuid::new_v4()));
        assert_eq!(tokens().parse(&minted.token), None);
    }

    #[test]
    fn legacy_tokens_are_recognised_by_shape_only() {
        let tokens = tokens();
        let legacy = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert_eq!(tokens.parse(&legacy), Some(Presented::Legacy));
        assert_eq!(tokens.parse(&legacy.replace('H', "+")), None);
        assert_eq!(tokens.parse(""), None);
        assert_eq!(tokens.parse(&"A".repeat(97)), None);
        assert_eq!(tokens.parse(&"A".repeat(98)), None);
    }
}
