//! The persons and links store on its own (SQLite, or PostgreSQL when TEST_DATABASE_URL names
//! one): linking, merging, refusing a second account at one node, profile changes queued for
//! every linked node, unlinking.

use idp::store::Database;
use idp::store::persons::{self, Link, Linked, Timing};
use shared::profile::{ProfileChanges, ProfileField, SharedProfile};

async fn database() -> (Database, tempfile::TempDir) {
    crate::common::idp_database("idp_test_links").await
}

fn at(node: &str, sub: &str) -> Link {
    Link {
        node_id: node.into(),
        sub: sub.into(),
    }
}

fn anna() -> SharedProfile {
    SharedProfile {
        first_name: "Anna".into(),
        last_name: "Allikas".into(),
        personal_code: Some(shared::PersonalCode::parse("48505120221").unwrap()),
        email: Some(shared::Email::parse("anna@a.ee").unwrap()),
        ..SharedProfile::default()
    }
}

const TIMING: Timing = Timing {
    at_millis: 1_000_000,
    deadline_millis: 2_000_000,
};

/// Deliveries of `kind` waiting for `node`.
async fn waiting(db: &Database, node: &str, kind: &str) -> i64 {
    shared::with_pool!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE client_id = $1 AND kind = $2 AND delivered_at IS NULL",
    )
    .bind(node)
    .bind(kind)
    .fetch_one(pool)
    .await
    .unwrap())
}

async fn pending(db: &Database, node: &str) -> i64 {
    waiting(db, node, "profile").await
}

#[tokio::test]
async fn linking_merging_and_unlinking() {
    let (db, _dir) = database().await;
    let linked = persons::link(&db, &at("a", "1"), &at("b", "2"), &anna(), TIMING)
        .await
        .unwrap();
    let Linked::Done { person_id, links } = linked else {
        panic!("{linked:?}")
    };
    assert_eq!(links.len(), 2);
    // Both nodes are sent the shared profile, and their new institutions for the nav bar.
    assert_eq!((pending(&db, "a").await, pending(&db, "b").await), (1, 1));
    assert_eq!(waiting(&db, "a", "institutions").await, 1);
    assert_eq!(waiting(&db, "b", "institutions").await, 1);
    assert_eq!(
        persons::link(&db, &at("b", "2"), &at("a", "1"), &anna(), TIMING)
            .await
            .unwrap(),
        Linked::AlreadyLinked
    );

    // Another person at C and D; linking B to C merges them, every link kept.
    persons::link(&db, &at("c", "3"), &at("d", "4"), &anna(), TIMING)
        .await
        .unwrap();
    let merged = persons::link(&db, &at("b", "2"), &at("c", "3"), &anna(), TIMING)
        .await
        .unwrap();
    let Linked::Done { links, .. } = merged else {
        panic!("{merged:?}")
    };
    assert_eq!(links.len(), 4);
    assert_eq!(persons::links(&db, &person_id).await.unwrap().len(), 4);
    assert_eq!(
        persons::person_of(&db, &at("d", "4")).await.unwrap(),
        Some(person_id.clone())
    );

    // A second account at a node the person already has is refused, and nothing changes.
    assert_eq!(
        persons::link(&db, &at("a", "1"), &at("d", "other"), &anna(), TIMING)
            .await
            .unwrap(),
        Linked::NodeTaken("d".into())
    );
    assert_eq!(persons::links(&db, &person_id).await.unwrap().len(), 4);

    // Removing the link to D leaves the other three.
    assert!(
        persons::unlink(&db, &at("a", "1"), &"d".into(), TIMING)
            .await
            .unwrap()
    );
    assert!(
        !persons::unlink(&db, &at("a", "1"), &"d".into(), TIMING)
            .await
            .unwrap()
    );
    assert_eq!(persons::links(&db, &person_id).await.unwrap().len(), 3);
    // D, let go, and the three others are told their institutions anew.
    assert_eq!(waiting(&db, "d", "institutions").await, 3);
    assert_eq!(waiting(&db, "a", "institutions").await, 3);
}

#[tokio::test]
async fn changes_reach_every_linked_node_and_versions_only_grow() {
    let (db, _dir) = database().await;
    let mut changes = ProfileChanges::new();
    changes.insert(ProfileField::Phone, Some("+37251234567".into()));
    // Not linked: nothing to do.
    assert_eq!(
        persons::apply_changes(
            &db,
            persons::NodeChange::fields(&at("a", "1"), &changes),
            TIMING,
            None
        )
        .await
        .unwrap(),
        None
    );
    persons::link(&db, &at("a", "1"), &at("b", "2"), &anna(), TIMING)
        .await
        .unwrap();
    let first = persons::apply_changes(
        &db,
        persons::NodeChange::fields(&at("b", "2"), &changes),
        TIMING,
        None,
    )
    .await
    .unwrap()
    .unwrap();
    // The same change again is harmless: same data, a newer version.
    let again = persons::apply_changes(
        &db,
        persons::NodeChange::fields(&at("b", "2"), &changes),
        TIMING,
        None,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(again > first);
    let person = persons::person_of(&db, &at("a", "1"))
        .await
        .unwrap()
        .unwrap();
    let row = persons::get(&db, &person).await.unwrap().unwrap();
    assert_eq!(row.phone.as_deref(), Some("+37251234567"));
    assert_eq!(
        row.email.as_deref(),
        Some("anna@a.ee"),
        "untouched fields stay"
    );
    assert_eq!(row.version, again);
    // Linking queued one update per node; each change queued one more for each.
    assert_eq!((pending(&db, "a").await, pending(&db, "b").await), (3, 3));
}

#[tokio::test]
async fn linking_at_two_nodes_at_once_ends_as_one_person() {
    let (db, _dir) = database().await;
    for round in 0..20 {
        let b = at("b", &format!("b{round}"));
        let a = at("a", &format!("a{round}"));
        let c = at("c", &format!("c{round}"));
        // The person confirms a link A–B in one browser and C–B in another at the same moment.
        let profile = anna();
        let (one, two) = tokio::join!(
            persons::link(&db, &a, &b, &profile, TIMING),
            persons::link(&db, &c, &b, &profile, TIMING),
        );
        one.unwrap();
        two.unwrap();
        let person = persons::person_of(&db, &b).await.unwrap().expect("linked");
        let links = persons::links(&db, &person).await.unwrap();
        assert_eq!(links.len(), 3, "round {round}: {links:?}");
        for account in [&a, &c] {
            assert_eq!(
                persons::person_of(&db, account).await.unwrap().as_ref(),
                Some(&person),
                "round {round}"
            );
        }
    }
}

#[tokio::test]
async fn concurrent_edits_at_three_nodes_all_land() {
    let (db, _dir) = database().await;
    let (a, b, c) = (at("a", "1"), at("b", "2"), at("c", "3"));
    persons::link(&db, &a, &b, &anna(), TIMING).await.unwrap();
    persons::link(&db, &b, &c, &anna(), TIMING).await.unwrap();
    let change = |field, value: &str| ProfileChanges::from([(field, Some(value.to_owned()))]);
    let (phone, email, address) = (
        change(ProfileField::Phone, "+37250000001"),
        change(ProfileField::Email, "anna@c.ee"),
        change(ProfileField::Address, "Tartu"),
    );
    let (x, y, z) = tokio::join!(
        persons::apply_changes(&db, persons::NodeChange::fields(&a, &phone), TIMING, None),
        persons::apply_changes(&db, persons::NodeChange::fields(&b, &email), TIMING, None),
        persons::apply_changes(&db, persons::NodeChange::fields(&c, &address), TIMING, None),
    );
    let mut versions = [x.unwrap(), y.unwrap(), z.unwrap()].map(|v| v.expect("linked"));
    versions.sort_unstable();
    assert!(
        versions[0] < versions[1] && versions[1] < versions[2],
        "{versions:?}"
    );
    let person = persons::person_of(&db, &a).await.unwrap().unwrap();
    let row = persons::get(&db, &person).await.unwrap().unwrap();
    assert_eq!(row.phone.as_deref(), Some("+37250000001"));
    assert_eq!(row.email.as_deref(), Some("anna@c.ee"));
    assert_eq!(row.address.as_deref(), Some("Tartu"));
    assert_eq!(row.version, versions[2], "the last version is the person's");
}

/// The newest profile update waiting for `node`, as the node will read it.
async fn newest_update(db: &Database, node: &str) -> shared::profile::ProfileUpdate {
    let payloads: Vec<String> = shared::with_pool!(db, pool => sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE client_id = $1 AND kind = 'profile'",
    )
    .bind(node)
    .fetch_all(pool)
    .await
    .unwrap());
    payloads
        .iter()
        .map(|p| serde_json::from_str::<shared::profile::ProfileUpdate>(p).unwrap())
        .max_by_key(|u| u.version)
        .unwrap()
}

#[tokio::test]
async fn a_chosen_language_goes_with_every_later_update_and_survives_a_merge() {
    use shared::profile::Language;
    let (db, _dir) = database().await;
    let none = ProfileChanges::new();
    persons::link(&db, &at("a", "1"), &at("b", "2"), &anna(), TIMING)
        .await
        .unwrap();
    // Nobody chose a language at a linked school yet: updates carry none.
    assert_eq!(newest_update(&db, "b").await.language, None);
    let chosen = persons::NodeChange {
        from: &at("a", "1"),
        changes: &none,
        language: Some(Language::Ru),
    };
    let v1 = persons::apply_changes(&db, chosen, TIMING, None)
        .await
        .unwrap()
        .unwrap();
    for node in ["a", "b"] {
        let update = newest_update(&db, node).await;
        assert_eq!((update.version, update.language), (v1, Some(Language::Ru)));
    }
    // A later change of a field carries the language too, so an update that arrives late or
    // out of order cannot leave a node with an older one: the newest version decides.
    let mut phone = ProfileChanges::new();
    phone.insert(ProfileField::Phone, Some("+37251234567".into()));
    let v2 = persons::apply_changes(
        &db,
        persons::NodeChange::fields(&at("b", "2"), &phone),
        TIMING,
        None,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(v2 > v1);
    let update = newest_update(&db, "a").await;
    assert_eq!((update.version, update.language), (v2, Some(Language::Ru)));
    // Another person (C–D) merges into this one: the language stays, and D is told it.
    persons::link(&db, &at("c", "3"), &at("d", "4"), &anna(), TIMING)
        .await
        .unwrap();
    persons::link(&db, &at("a", "1"), &at("c", "3"), &anna(), TIMING)
        .await
        .unwrap();
    let person = persons::person_of(&db, &at("d", "4"))
        .await
        .unwrap()
        .unwrap();
    let row = persons::get(&db, &person).await.unwrap().unwrap();
    assert_eq!(row.language(), Some(Language::Ru));
    assert_eq!(newest_update(&db, "d").await.language, Some(Language::Ru));
    // A language chosen for an account linked to nothing changes nothing.
    let alone = persons::NodeChange {
        from: &at("e", "5"),
        changes: &none,
        language: Some(Language::En),
    };
    assert_eq!(
        persons::apply_changes(&db, alone, TIMING, None)
            .await
            .unwrap(),
        None
    );
}
