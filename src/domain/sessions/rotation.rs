//! The rotation decision: what one refresh-token exchange does, decided from what the
//! locked transaction sees; and the sealing of successors for replays in the grace window.

use aws_lc_rs::digest::{SHA256, digest};
use serde_json::json;
use uuid::Uuid;

use super::{ClientInfo, Lifetimes, cap, event, hash_refresh_token};
use crate::store::{CurrentRotation, NewRefreshToken, RejectReason, RotationPlan, TokenState};
use crate::support::sealing;

/// The key that seals a token's successor: derived from the token itself.
fn successor_key(presented: &str) -> [u8; 32] {
    let mut input = b"tessera refresh successor v1\0".to_vec();
    input.extend_from_slice(presented.as_bytes());
    digest(&SHA256, &input)
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// The successor of `presented`, sealed so that only a holder of `presented` can open it,
/// and bound (as associated data) to the presented token's hash, which identifies its row.
pub(super) fn seal_successor(presented: &str, successor: &str) -> Vec<u8> {
    sealing::seal(
        &successor_key(presented),
        &hash_refresh_token(presented),
        successor.as_bytes(),
    )
}

/// Opens what `seal_successor` sealed. Earlier builds bound a successor to the token's row
/// id instead; such a successor lives only for the grace window, but an upgrade must not
/// turn a retry inside that window into a revocation.
fn open_successor(presented: &str, token_id: Uuid, sealed: &[u8]) -> Option<String> {
    let key = successor_key(presented);
    sealing::open(&key, &hash_refresh_token(presented), sealed)
        .or_else(|| sealing::open(&key, token_id.as_bytes(), sealed))
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

/// The rotation decision, from what the locked transaction sees. Pure, so every branch of
/// the documented rotation rules is in one place.
pub(super) fn decide(
    state: Option<TokenState>,
    presented: &str,
    current: &CurrentRotation,
    lifetimes: &Lifetimes,
    client: &ClientInfo,
) -> RotationPlan {
    let now = current.now;
    let Some(state) = state else {
        return RotationPlan::Reject(RejectReason::Invalid);
    };
    let session = &state.session;
    let ended = session.revoked_at.is_some()
        || session.expires_at <= now
        || session.absolute_expires_at.is_some_and(|at| at <= now)
        || state.token_expires_at <= now;
    if ended {
        return RotationPlan::Reject(RejectReason::Invalid);
    }
    if state.user.disabled {
        return RotationPlan::Reject(RejectReason::Disabled);
    }
    let Some(rotated_at) = state.rotated_at else {
        // The successor prepared for the one-statement path, capped like the store caps it.
        let expires_at = cap(current.successor.expires_at, session.absolute_expires_at);
        return RotationPlan::Rotate {
            successor_sealed: current.successor_sealed.clone(),
            successor: NewRefreshToken {
                expires_at,
                ..current.successor.clone()
            },
            session_expires_at: expires_at,
            user_agent: current.user_agent.clone(),
            ip: current.ip.clone(),
        };
    };
    let in_grace = now < rotated_at + lifetimes.grace;
    if in_grace && !state.successor_used {
        let replay = state
            .successor_sealed
            .as_deref()
            .and_then(|sealed| open_successor(presented, state.token_id, sealed));
        if let Some(successor) = replay {
            return RotationPlan::Replay { successor };
        }
    }
    let cause = if in_grace {
        "successor-already-used"
    } else {
        "outside-grace-window"
    };
    RotationPlan::Revoke {
        event: event(
            now,
            "refresh-token-reused",
            Some(session.user_id),
            Some(session.id),
            client,
            json!({
                "cause": cause,
                "by": "system",
                "rotatedAt": rotated_at.unix_timestamp(),
            }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;

    use super::super::mint;
    use super::*;

    #[test]
    fn a_sealed_successor_opens_only_with_its_presented_token() {
        let presented = mint(&SystemRandom::new()).token;
        let other = mint(&SystemRandom::new()).token;
        let token_id = Uuid::new_v4();
        let sealed = seal_successor(&presented, "the-successor");
        assert_eq!(
            open_successor(&presented, token_id, &sealed).as_deref(),
            Some("the-successor")
        );
        assert_eq!(open_successor(&other, token_id, &sealed), None);
    }

    #[test]
    fn successors_sealed_by_earlier_builds_still_open() {
        // Earlier builds bound the sealing to the token's row id.
        let presented = mint(&SystemRandom::new()).token;
        let token_id = Uuid::new_v4();
        let legacy = sealing::seal(
            &successor_key(&presented),
            token_id.as_bytes(),
            b"the-successor",
        );
        assert_eq!(
            open_successor(&presented, token_id, &legacy).as_deref(),
            Some("the-successor")
        );
        assert_eq!(open_successor(&presented, Uuid::new_v4(), &legacy), None);
    }
}
