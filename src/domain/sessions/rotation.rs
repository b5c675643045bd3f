//! The rotation decision: what one refresh-token exchange does, decided from what the
//! locked transaction sees; and the sealing of successors for replays in the grace window.

use aws_lc_rs::digest::{SHA256, digest};
use serde_json::json;
use time::OffsetDateTime;
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
/// the documented rotation rules is in one place. It rotates exactly when
/// [`TokenState::may_rotate`] holds.
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
    if state.may_rotate(now) {
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
    }
    if state.has_ended(now) {
        return RotationPlan::Reject(RejectReason::Invalid);
    }
    if state.user.disabled {
        return RotationPlan::Reject(RejectReason::Disabled);
    }
    // Live and enabled, yet not rotatable: rotated before, so a replay or a reuse.
    let Some(rotated_at) = state.rotated_at else {
        // Not reached while `may_rotate` asks only the above; were it ever to ask more, an
        // unrotated token it refuses is refused here too, never taken for a reuse.
        return RotationPlan::Reject(RejectReason::Invalid);
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

impl TokenState {
    /// The rotation precondition: whether an exchange at `now` rotates this token. It does
    /// when the token is its session's current one (never rotated) and unexpired, the
    /// session is unrevoked, unexpired and under its absolute cap, and the user is enabled.
    ///
    /// This is the one statement of the rule. `decide` (above) chooses `RotationPlan::Rotate`
    /// exactly when it holds; the store restates it in SQL, and is held to it:
    /// `SessionStore::rotate_current_refresh_token` (the one-statement exchange) rotates
    /// exactly when it holds and `SessionStore::refresh_token_is_current` answers it, which
    /// `tests/store` checks on both backends.
    pub fn may_rotate(&self, now: OffsetDateTime) -> bool {
        self.rotated_at.is_none() && !self.user.disabled && !self.has_ended(now)
    }

    /// Whether the token or its session has ended at `now`: the session revoked, expired or
    /// past its absolute cap, or the token expired. Such a token is refused, whatever else
    /// holds.
    pub fn has_ended(&self, now: OffsetDateTime) -> bool {
        let session = &self.session;
        session.revoked_at.is_some()
            || session.expires_at <= now
            || session.absolute_expires_at.is_some_and(|at| at <= now)
            || self.token_expires_at <= now
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Lineage, RefreshTokens};
    use super::*;

    fn mint_token() -> String {
        RefreshTokens::with_secret(b"a test secret")
            .mint(Lineage::first(Uuid::new_v4()))
            .token
    }

    #[test]
    fn a_sealed_successor_opens_only_with_its_presented_token() {
        let presented = mint_token();
        let other = mint_token();
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
        let presented = mint_token();
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

    /// A current token of a live session, at `now`, whose successor (if rotated) is sealed
    /// under `presented`.
    fn live_state(now: OffsetDateTime, presented: &str) -> TokenState {
        let user = crate::store::UserRecord::placeholder(Uuid::new_v4(), now);
        TokenState {
            token_id: Uuid::new_v4(),
            token_expires_at: now + time::Duration::days(30),
            rotated_at: None,
            successor_sealed: Some(seal_successor(presented, "the-successor")),
            successor_used: false,
            session: crate::store::SessionRecord {
                id: Uuid::new_v4(),
                user_id: user.id,
                created_at: now - time::Duration::days(1),
                last_used_at: now - time::Duration::days(1),
                expires_at: now + time::Duration::days(30),
                absolute_expires_at: Some(now + time::Duration::days(60)),
                revoked_at: None,
                user_agent: String::new(),
                ip: String::new(),
                auth_time: now - time::Duration::days(1),
                amr: vec!["pwd".into()],
            },
            user,
        }
    }

    #[test]
    fn decide_rotates_exactly_when_the_precondition_holds() {
        let now = time::macros::datetime!(2030-01-01 12:00 UTC);
        let presented = mint_token();
        let lifetimes = Lifetimes {
            refresh_ttl: std::time::Duration::from_secs(30 * 86_400),
            max_age: None,
            grace: std::time::Duration::from_secs(60),
            recent_auth: std::time::Duration::from_secs(300),
        };
        let current = CurrentRotation {
            now,
            successor: NewRefreshToken {
                id: Uuid::new_v4(),
                hash: vec![1; 32],
                created_at: now,
                expires_at: now + time::Duration::days(30),
                generation: 2,
            },
            successor_sealed: vec![2; 8],
            user_agent: String::new(),
            ip: String::new(),
        };
        type Change = fn(&mut TokenState, OffsetDateTime);
        let cases: [(&str, Change, &str); 9] = [
            ("current", |_, _| {}, "rotate"),
            (
                "token expired",
                |s, now| s.token_expires_at = now,
                "invalid",
            ),
            (
                "rotated in grace",
                |s, now| s.rotated_at = Some(now),
                "replay",
            ),
            (
                "rotated long ago",
                |s, now| s.rotated_at = Some(now - time::Duration::hours(1)),
                "revoke",
            ),
            (
                "session revoked",
                |s, now| s.session.revoked_at = Some(now),
                "invalid",
            ),
            (
                "session expired",
                |s, now| s.session.expires_at = now,
                "invalid",
            ),
            (
                "session past its cap",
                |s, now| s.session.absolute_expires_at = Some(now),
                "invalid",
            ),
            ("user disabled", |s, _| s.user.disabled = true, "disabled"),
            (
                "rotated and disabled",
                |s, now| {
                    s.rotated_at = Some(now);
                    s.user.disabled = true;
                },
                "disabled",
            ),
        ];
        for (name, change, expected) in cases {
            let mut state = live_state(now, &presented);
            change(&mut state, now);
            let may_rotate = state.may_rotate(now);
            let client = ClientInfo::default();
            let plan = decide(Some(state), &presented, &current, &lifetimes, &client);
            let answer = match plan {
                RotationPlan::Rotate { .. } => "rotate",
                RotationPlan::Replay { .. } => "replay",
                RotationPlan::Revoke { .. } => "revoke",
                RotationPlan::Reject(RejectReason::Invalid) => "invalid",
                RotationPlan::Reject(RejectReason::Disabled) => "disabled",
            };
            assert_eq!(answer, expected, "{name}");
            assert_eq!(may_rotate, answer == "rotate", "{name}");
        }
    }
}
