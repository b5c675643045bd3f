//! AES-256-GCM sealing of secrets at rest: private signing keys (under
//! `TESSERA_KEY_ENCRYPTION_KEY`) and a refresh token's successor (under a key derived from
//! the refresh token itself). Sealed bytes are `nonce || ciphertext || tag`; the nonce is
//! random for every sealing.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};

/// Seals `plaintext` under `key`, bound to `aad` (which must be given again to open it).
pub fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let sealing = RandomizedNonceKey::new(&AES_256_GCM, key).expect("a 32-byte AES-256 key");
    let mut in_out = plaintext.to_vec();
    let nonce = sealing
        .seal_in_place_append_tag(Aad::from(aad), &mut in_out)
        .expect("AES-GCM sealing of a short message cannot fail");
    let mut sealed = nonce.as_ref().to_vec();
    sealed.extend_from_slice(&in_out);
    sealed
}

/// Opens what [`seal`] produced; `None` if the key or `aad` is wrong or the bytes were
/// altered.
pub fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let opening = RandomizedNonceKey::new(&AES_256_GCM, key).ok()?;
    let mut in_out = ciphertext.to_vec();
    let plaintext = opening
        .open_in_place(nonce, Aad::from(aad), &mut in_out)
        .ok()?;
    Some(plaintext.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let key = [7u8; 32];
        let sealed = seal(&key, b"kid-1", b"secret");
        assert_ne!(&sealed[NONCE_LEN..NONCE_LEN + 6], b"secret");
        assert_eq!(
            open(&key, b"kid-1", &sealed).as_deref(),
            Some(&b"secret"[..])
        );
        assert_eq!(open(&[8u8; 32], b"kid-1", &sealed), None, "wrong key");
        assert_eq!(open(&key, b"kid-2", &sealed), None, "wrong binding");
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(open(&key, b"kid-1", &altered), None, "altered");
        assert_ne!(
            seal(&key, b"kid-1", b"secret"),
            sealed,
            "a fresh nonce each time"
        );
    }
}
