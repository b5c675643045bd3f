//! The security event log: filters, order and cursors.

use std::sync::Arc;

use tessera::store::{EventFilter, Store};
use time::Duration;
use uuid::Uuid;

use crate::{NOW, event};

pub async fn search_events_filters_newest_first_with_cursors(store: Arc<dyn Store>) {
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let recorded = [
        event(NOW - Duration::hours(3), "signed-in", Some(ada), None),
        event(NOW - Duration::hours(2), "signed-in", Some(bob), None),
        event(
            NOW - Duration::hours(1),
            "password-changed",
            Some(ada),
            None,
        ),
        event(NOW, "signed-in", Some(ada), None),
    ];
    for event in &recorded {
        store.record_event(event).await.unwrap();
    }
    let all = store
        .search_events(&EventFilter {
            limit: 10,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    let kinds: Vec<_> = all.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(
        kinds,
        [3, 2, 1, 0].map(|i| recorded[i].clone()),
        "newest first"
    );

    let ada_signins = store
        .search_events(&EventFilter {
            user_id: Some(ada),
            kind: Some("signed-in".into()),
            limit: 10,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        ada_signins
            .iter()
            .map(|(_, e)| e.clone())
            .collect::<Vec<_>>(),
        [recorded[3].clone(), recorded[0].clone()]
    );

    // since is inclusive, until exclusive.
    let window = store
        .search_events(&EventFilter {
            since: Some(NOW - Duration::hours(2)),
            until: Some(NOW),
            limit: 10,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        window.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
        [recorded[2].clone(), recorded[1].clone()]
    );

    // A page of two, then the rest after its last id.
    let page = store
        .search_events(&EventFilter {
            limit: 2,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    let rest = store
        .search_events(&EventFilter {
            before_id: Some(page[1].0),
            limit: 10,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
        [recorded[1].clone(), recorded[0].clone()]
    );

    assert_eq!(
        store.events(Some(bob), 10).await.unwrap(),
        [recorded[1].clone()]
    );
    assert_eq!(store.events(None, 1).await.unwrap(), [recorded[3].clone()]);
}

crate::contract!(search_events_filters_newest_first_with_cursors);
