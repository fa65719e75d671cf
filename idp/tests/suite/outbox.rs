//! The delivery outbox on its own (SQLite, or PostgreSQL when TEST_DATABASE_URL names one):
//! workers claiming due deliveries at once never take the same one, and a claim holds until it
//! runs out or the delivery is done.

use std::collections::HashSet;

use idp::store::Database;
use idp::store::outbox::{self, NewDelivery, OutboxKind};

async fn database() -> (Database, tempfile::TempDir) {
    crate::common::idp_database("idp_test_outbox").await
}

async fn queue(db: &Database, n: usize, at: i64) {
    for i in 0..n {
        let client = format!("node{i}");
        let new = NewDelivery {
            kind: OutboxKind::Logout,
            client_id: &client,
            sid: "sid",
            sub: "sub",
            payload: None,
        };
        outbox::enqueue(db, &new, at, at + 60_000).await.unwrap();
    }
}

#[tokio::test]
async fn concurrent_workers_never_claim_one_delivery_twice() {
    let (db, _dir) = database().await;
    let at = 1_000_000;
    queue(&db, 200, at).await;
    // Eight workers at once, each taking at most 40: together they may take all 200.
    let claims = (0..8).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { outbox::claim_due(&db, at, at + 30_000, 40).await.unwrap() })
    });
    let mut seen = HashSet::new();
    for claim in claims.collect::<Vec<_>>() {
        for delivery in claim.await.unwrap() {
            assert!(
                seen.insert(delivery.id.clone()),
                "{} claimed twice",
                delivery.id
            );
            assert_eq!(delivery.kind(), Some(OutboxKind::Logout));
        }
    }
    // Whatever the racing workers left is still there for the next round, and only that.
    let rest = outbox::claim_due(&db, at, at + 30_000, 500).await.unwrap();
    for delivery in &rest {
        assert!(
            seen.insert(delivery.id.clone()),
            "{} claimed twice",
            delivery.id
        );
    }
    assert_eq!(seen.len(), 200, "every delivery claimed exactly once");
}

#[tokio::test]
async fn a_claim_holds_until_it_runs_out_and_a_delivered_one_is_never_taken() {
    let (db, _dir) = database().await;
    let at = 1_000_000;
    queue(&db, 3, at).await;
    let first = outbox::claim_due(&db, at, at + 30_000, 2).await.unwrap();
    assert_eq!(first.len(), 2, "the limit is kept");
    let second = outbox::claim_due(&db, at + 1, at + 30_000, 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "claimed ones are left to their worker");
    assert!(
        outbox::claim_due(&db, at + 2, at + 30_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    outbox::delivered(&db, &first[0].id, at + 3).await.unwrap();
    // Past the claims: the two undelivered ones come back, the delivered one does not.
    let again = outbox::claim_due(&db, at + 30_001, at + 60_000, 10)
        .await
        .unwrap();
    let ids: HashSet<_> = again.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(again.len(), 2);
    assert!(!ids.contains(first[0].id.as_str()));
    // Nor is one not yet due.
    assert!(
        outbox::claim_due(&db, at - 1, at + 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
