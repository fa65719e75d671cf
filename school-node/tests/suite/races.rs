//! Two people doing the same thing at the same moment end in one consistent state.

use reqwest::StatusCode;
use school_node::i18n::Locale;
use school_node::service::applications::{self, ApplicationInput};
use school_node::store::accounts::Role;

use crate::common::TestNode;

#[tokio::test]
async fn two_admins_approving_one_application_at_once_make_one_account() {
    let node = TestNode::spawn().await;
    node.account(
        "Kati",
        "Kask",
        None,
        Some("50001010006"),
        &[Role::Student],
        "kati-pw-123",
    )
    .await;
    let draft = applications::check_step_one(&ApplicationInput {
        children_codes: "50001010006".into(),
        personal_code: "38501010220".into(),
        first_name: "Peeter".into(),
        last_name: "Kask".into(),
        email: "peeter@example.ee".into(),
        phone: "+372 5123 4567".into(),
    })
    .unwrap();
    applications::submit(
        &node.state.application_desk(),
        &draft,
        "peeter@example.ee",
        Locale::Et,
    )
    .await
    .unwrap();
    let id = school_node::store::applications::list(&node.state.db, 10)
        .await
        .unwrap()[0]
        .id
        .clone();
    node.director().await;
    let (one, two) = (
        node.director_signed_in().await,
        node.director_signed_in().await,
    );
    let (page1, page2) = (
        one.get("/admin/applications").await,
        two.get("/admin/applications").await,
    );
    let accounts_before = node.account_count().await;
    let action = format!("/admin/applications/{id}/approve");
    let (csrf1, csrf2) = (page1.csrf(), page2.csrf());
    let (form1, form2) = ([("csrf", csrf1.as_str())], [("csrf", csrf2.as_str())]);
    let (a, b) = tokio::join!(one.post(&action, &form1), two.post(&action, &form2));
    let (won, lost) = if a.status.is_redirection() {
        (a, b)
    } else {
        (b, a)
    };
    won.assert_redirect("/admin/applications");
    assert_eq!(lost.status, StatusCode::CONFLICT, "{}", lost.body);
    lost.assert_contains("Seda on juba tehtud");
    assert_eq!(
        node.account_count().await,
        accounts_before + 1,
        "one account"
    );
    let letters: i64 = shared::with_pool!(&node.state.db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM mail_outbox WHERE purpose = 'account_created'",
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(letters, 1, "one letter with the password");
}

/// The IdP may go away in the middle of a back-channel logout (killed, or past its timeout),
/// and the server then drops the handler at whatever await it had reached. The IdP sends the
/// logout again; that second token must still end the session, wherever the first was cut off.
#[tokio::test]
async fn a_logout_cut_off_midway_is_finished_by_the_one_sent_again() {
    use school_node::sso::logout;
    let node = TestNode::spawn().await;
    let store = &node.state.ephemeral;
    let mut cut_off = 0;
    for turns in 0..200 {
        let (session, sid) = (format!("cut{turns}"), format!("sid-cut{turns}"));
        let key = format!("session:{session}");
        store
            .set(&key, b"{}", std::time::Duration::from_secs(60))
            .await
            .unwrap();
        logout::index_session(store, &session, Some(&sid), "account")
            .await
            .unwrap();
        if !testkit::cut_off_after(turns, logout::end_sessions_of_sid(store, &sid)).await {
            cut_off += 1;
        }
        logout::end_sessions_of_sid(store, &sid).await.unwrap();
        assert!(
            store.get(&key).await.unwrap().is_none(),
            "the session outlived a logout cut off after {turns} turns and the one sent again"
        );
    }
    // In memory the ending never waits, so nothing can cut it off; on Redis it must have been.
    if store.kind() == "redis" {
        assert!(
            cut_off > 0,
            "no ending was cut off: the sweep tested nothing"
        );
    }
}
