//! The secrets of the second factor: TOTP secrets (sealed at rest), the codes they give
//! (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, one step of drift), and recovery
//! codes (stored as HMAC-SHA256 tags).

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use totp_rs::{Builder, Totp};
use uuid::Uuid;

use crate::support::sealing;

/// Bytes of a TOTP secret (160 bits, RFC 4226's recommendation; 32 base32 characters).
pub const SECRET_BYTES: usize = 20;
/// Recovery codes in a set.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (two groups of five): 31 symbols, about 49.5 bits.
const RECOVERY_CHARS: usize = 10;
/// No 0/o, 1/l/i: what is read off paper is typed back right.
const RECOVERY_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
/// Domain separation of the two keys derived from the second factor's secret.
const SEAL_LABEL: &[u8] = b"tessera mfa totp secret seal v1";
const RECOVERY_LABEL: &[u8] = b"tessera mfa recovery code tag v1";

/// The keys of the second factor, derived from one 32-byte secret (itself derived from
/// the key-encryption key, or a random server secret without one).
pub struct MfaKeys {
    seal: [u8; 32],
    recovery: hmac::Key,
}

impl MfaKeys {
    pub fn new(secret: &[u8]) -> Self {
        let base = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let mut seal = [0u8; 32];
        seal.copy_from_slice(hmac::sign(&base, SEAL_LABEL).as_ref());
        let recovery = hmac::sign(&base, RECOVERY_LABEL);
        Self {
            seal,
            recovery: hmac::Key::new(hmac::HMAC_SHA256, recovery.as_ref()),
        }
    }

    /// A secret sealed for `user_id` (the user id is the AEAD's associated data: a sealed
    /// secret copied to another user's row does not open).
    pub fn seal(&self, user_id: Uuid, secret: &[u8]) -> Vec<u8> {
        sealing::seal(&self.seal, user_id.as_bytes(), secret)
    }

    pub fn open(&self, user_id: Uuid, sealed: &[u8]) -> Option<Vec<u8>> {
        sealing::open(&self.seal, user_id.as_bytes(), sealed)
    }

    /// The stored tag of a (normalised) recovery code of `user_id`.
    pub fn recovery_tag(&self, user_id: Uuid, code: &str) -> Vec<u8> {
        let mut message = user_id.as_bytes().to_vec();
        message.extend_from_slice(code.as_bytes());
        hmac::sign(&self.recovery, &message).as_ref().to_vec()
    }
}

/// A fresh TOTP secret from the OS generator.
pub fn new_secret(rng: &SystemRandom) -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rng.fill(&mut secret).expect("the OS random generator");
    secret
}

/// The TOTP of a secret; with an issuer and account for an otpauth URI. `None` only for a
/// secret shorter than 128 bits or a `:` in the labels, which Tessera never makes.
pub fn totp(secret: Vec<u8>, issuer: &str, account: &str) -> Option<Totp> {
    Builder::new()
        .with_secret(secret)
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .ok()
}

/// The time step a six-digit `code` matches at `unix` seconds (the step before, the
/// current one or the one after), if any.
pub fn matching_step(totp: &Totp, code: &str, unix: i64) -> Option<i64> {
    let unix = u64::try_from(unix).ok()?;
    totp.check(code, unix)
        .and_then(|step| i64::try_from(step).ok())
}

/// Whether `otp` has the shape of a TOTP code (6 digits) rather than a recovery code.
pub fn is_totp_code(otp: &str) -> bool {
    otp.len() == 6 && otp.bytes().all(|b| b.is_ascii_digit())
}

/// A new set of recovery codes, as shown (`xxxxx-xxxxx`).
pub fn new_recovery_codes(rng: &SystemRandom) -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut code = String::with_capacity(RECOVERY_CHARS + 1);
            while code.len() < RECOVERY_CHARS + 1 {
                let mut byte = [0u8; 1];
                rng.fill(&mut byte).expect("the OS random generator");
                // 248 = 8 * 31: drawing below it keeps the symbols uniform.
                if byte[0] < 248 {
                    if code.len() == RECOVERY_CHARS / 2 {
                        code.push('-');
                    }
                    code.push(RECOVERY_ALPHABET[usize::from(byte[0]) % 31] as char);
                }
            }
            code
        })
        .collect()
}

/// A recovery code as typed, normalised (case, dashes and spaces ignored); `None` when it
/// cannot be one.
pub fn normalise_recovery_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == RECOVERY_CHARS && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
        .then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let totp = totp(b"12345678901234567890".to_vec(), "Tessera", "a@example.com").unwrap();
        for (unix, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(matching_step(&totp, code, unix), Some(unix / 30), "{unix}");
        }
        assert_eq!(
            matching_step(&totp, "287082", 59 + 30),
            Some(1),
            "a step late"
        );
        assert_eq!(
            matching_step(&totp, "287082", 59 - 30),
            Some(1),
            "a step early"
        );
        assert_eq!(
            matching_step(&totp, "287082", 59 + 60),
            None,
            "two steps late"
        );
        assert_eq!(matching_step(&totp, "28708a", 59), None);
    }

    #[test]
    fn the_otpauth_uri_names_issuer_and_account() {
        let totp = totp(vec![7u8; SECRET_BYTES], "Tessera", "ada@example.com").unwrap();
        let url = totp.to_url().unwrap();
        assert!(
            url.starts_with("otpauth://totp/Tessera:ada%40example.com?"),
            "{url}"
        );
        assert!(url.contains("issuer=Tessera"), "{url}");
    }

    #[test]
    fn recovery_codes_are_random_and_normalise_as_typed() {
        let rng = SystemRandom::new();
        let codes = new_recovery_codes(&rng);
        assert_eq!(codes.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            let typed = format!(" {} ", code.to_uppercase().replace('-', " "));
            assert_eq!(normalise_recovery_code(&typed), Some(code.replace('-', "")));
        }
        assert_ne!(codes[0], codes[1]);
        assert_eq!(normalise_recovery_code("123456"), None);
        assert_eq!(
            normalise_recovery_code("aaaaa-aaaa0"),
            None,
            "0 is not a symbol"
        );
        let keys = MfaKeys::new(&[1u8; 32]);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_ne!(keys.recovery_tag(a, "abcde"), keys.recovery_tag(b, "abcde"));
        let sealed = keys.seal(a, b"secret");
        assert_eq!(keys.open(a, &sealed).as_deref(), Some(&b"secret"[..]));
        assert_eq!(keys.open(b, &sealed), None, "bound to its user");
    }
}
