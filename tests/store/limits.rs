//! Rate-limit counters: fixed windows that start over once spent.

use std::sync::Arc;

use tessera::store::Store;
use time::Duration;

use crate::NOW;

pub async fn hits_count_within_a_window_and_start_over_after_it(store: Arc<dyn Store>) {
    let window = Duration::seconds(60);
    let key = "signin:192.0.2.1";
    assert_eq!(
        store.rate_limit_hits(key, NOW - window).await.unwrap(),
        None
    );

    assert_eq!(
        store.hit_rate_limit(key, NOW, NOW - window).await.unwrap(),
        (1, NOW)
    );
    let later = NOW + Duration::seconds(30);
    assert_eq!(
        store
            .hit_rate_limit(key, later, later - window)
            .await
            .unwrap(),
        (2, NOW),
        "the same window"
    );
    assert_eq!(
        store.rate_limit_hits(key, later - window).await.unwrap(),
        Some((2, NOW))
    );
    assert_eq!(
        store
            .rate_limit_hits("signin:192.0.2.2", later - window)
            .await
            .unwrap(),
        None,
        "keys count apart"
    );

    // A window that started at or before `window_start` is spent.
    let next = NOW + window;
    assert_eq!(
        store.rate_limit_hits(key, next - window).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .hit_rate_limit(key, next, next - window)
            .await
            .unwrap(),
        (1, next),
        "a new window"
    );
    assert_eq!(
        store.rate_limit_hits(key, next - window).await.unwrap(),
        Some((1, next))
    );
}

crate::contract!(hits_count_within_a_window_and_start_over_after_it);
