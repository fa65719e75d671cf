//! The school node through HTTP, as a browser uses it: cookies, forms, CSRF tokens.
//! Runs on SQLite + memory by default, on PostgreSQL + Redis when TEST_DATABASE_URL and
//! TEST_REDIS_URL are set (see common/mod.rs).

use std::time::Duration;

use crate::common::{Browser, TestNode};
use reqwest::StatusCode;
use school_node::store::accounts::Role;

const MARI_CODE: &str = "49403136515";
const JUKU_CODE: &str = "50001010006";

#[tokio::test]
async fn username_is_email_or_name_in_any_spacing_and_case() {
    let node = TestNode::spawn().await;
    node.account(
        "Mari",
        "Maasikas",
        Some("mari.maasikas@example.ee"),
        Some(MARI_CODE),
        &[Role::Teacher],
        "maasikad-2024",
    )
    .await;
    for username in [
        "Mari Maasikas",
        "marimaasikas",
        "MARI maasikas",
        "  mari  MAASIKAS ",
        "Mari.Maasikas@Example.EE",
    ] {
        let browser = node.browser();
        browser
            .sign_in_ok(username, "maasikad-2024", "Mari Maasikas")
            .await;
        browser.get("/").await.assert_contains("õpetaja");
    }
}

#[tokio::test]
async fn estonian_letters_are_part_of_the_name() {
    let node = TestNode::spawn().await;
    node.account("Õie", "Mägi", None, None, &[Role::Parent], "mägimägi")
        .await;
    node.browser()
        .sign_in_ok("õie mägi", "mägimägi", "Õie Mägi")
        .await;
    let page = node.browser().sign_in("Oie Magi", "mägimägi").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    page.assert_contains("Vale kasutajanimi või salasõna.");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same_and_sign_in_no_one() {
    let node = TestNode::spawn().await;
    node.mari().await;
    let browser = node.browser();
    let wrong = browser.sign_in("Mari Maasikas", "vale-salasona").await;
    let unknown = browser.sign_in("Keegi Teine", "vale-salasona").await;
    for page in [&wrong, &unknown] {
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        page.assert_contains("Vale kasutajanimi või salasõna.");
    }
    browser.get("/").await.assert_redirect("/login?next=/");
    browser
        .get("/profile")
        .await
        .assert_redirect("/login?next=/profile");
}

#[tokio::test]
async fn an_ambiguous_name_asks_for_the_email() {
    let node = TestNode::spawn().await;
    node.account(
        "Kati",
        "Kask",
        Some("kati.kask@example.ee"),
        None,
        &[Role::Parent],
        "esimene-kati",
    )
    .await;
    node.account(
        "Kati",
        "Kask",
        Some("kati.k@example.ee"),
        None,
        &[Role::Teacher],
        "teine-kati-1",
    )
    .await;
    let browser = node.browser();
    let page = browser.sign_in("kati kask", "esimene-kati").await;
    page.assert_contains("Logi palun sisse oma e-posti aadressiga.");
    browser.get("/").await.assert_redirect("/login?next=/");
    browser
        .sign_in_ok("kati.k@example.ee", "teine-kati-1", "Kati Kask")
        .await;
    browser.get("/").await.assert_contains("õpetaja");
}

#[tokio::test]
async fn failures_pause_the_failing_address_not_the_person() {
    let node = TestNode::spawn_with(|c| {
        c.trust_forwarded_for = true;
        c.throttle.delay_base_millis = 20;
    })
    .await;
    node.mari().await;
    let attacker = Browser::from_address(&node.url, "203.0.113.7");
    for _ in 0..5 {
        attacker
            .sign_in("Mari Maasikas", "vale-salasona")
            .await
            .assert_contains("Vale kasutajanimi");
    }
    // From the failing address even the right password waits out the window…
    let page = attacker.sign_in("Mari Maasikas", "maasikad-2024").await;
    page.assert_contains(
        "Liiga palju ebaõnnestunud sisselogimiskatseid. Proovi uuesti 15 minuti pärast.",
    );
    attacker.get("/").await.assert_redirect("/login?next=/");
    // …but Mari, at an address that has not been failing, gets in (slowed down, not refused).
    let mari = Browser::from_address(&node.url, "198.51.100.2");
    mari.sign_in_ok("Mari Maasikas", "maasikad-2024", "Mari Maasikas")
        .await;
}

#[tokio::test]
async fn an_unknown_name_is_counted_and_answered_like_a_known_one() {
    let node = TestNode::spawn_with(|c| c.trust_forwarded_for = true).await;
    node.mari().await;
    let known = Browser::from_address(&node.url, "203.0.113.8");
    let unknown = Browser::from_address(&node.url, "203.0.113.9");
    for _ in 0..5 {
        let a = known.sign_in("Mari Maasikas", "vale-salasona").await;
        let b = unknown.sign_in("Tundmatu Inimene", "vale-salasona").await;
        assert_eq!(a.status, b.status);
        a.assert_contains("Vale kasutajanimi");
        b.assert_contains("Vale kasutajanimi");
    }
    let a = known.sign_in("Mari Maasikas", "vale-salasona").await;
    let b = unknown.sign_in("Tundmatu Inimene", "vale-salasona").await;
    assert_eq!(a.status, b.status);
    a.assert_contains("Liiga palju");
    b.assert_contains("Liiga palju");
}

#[tokio::test]
async fn an_address_is_paused_after_failures_across_accounts() {
    let node = TestNode::spawn_with(|c| c.throttle.per_address = 3).await;
    node.mari().await;
    let browser = node.browser();
    for name in ["Aadu Aas", "Beeda Bee", "Ceele Cee"] {
        browser
            .sign_in(name, "arvan-ära")
            .await
            .assert_contains("Vale kasutajanimi");
    }
    node.browser()
        .sign_in("Mari Maasikas", "maasikad-2024")
        .await
        .assert_contains("Liiga palju");
}

#[tokio::test]
async fn a_temporary_password_must_be_changed_first() {
    let node = TestNode::spawn().await;
    let input = school_node::service::accounts::PersonalDataInput {
        first_name: "Jaan".into(),
        last_name: "Tamm".into(),
        ..Default::default()
    };
    let temporary = school_node::service::passwords::Secret::new("78ecd619");
    let id = school_node::service::accounts::create(
        &node.state.db,
        &input,
        &[Role::Parent],
        Some(&temporary),
    )
    .await
    .unwrap();

    let browser = node.browser();
    browser
        .sign_in("jaan tamm", "78ecd619")
        .await
        .assert_redirect("/password");
    browser.get("/").await.assert_redirect("/password");
    browser.get("/profile").await.assert_redirect("/password");
    let page = browser.get("/password").await;
    page.assert_contains("Sinu salasõna on ajutine.");

    let short = browser
        .submit(
            "/password",
            "/password",
            &[("password", "lühike"), ("password_again", "lühike")],
        )
        .await;
    short.assert_contains("Salasõna peab olema vähemalt 8 sümbolit pikk.");
    let mismatch = browser
        .submit(
            "/password",
            "/password",
            &[("password", "tammepuu-1"), ("password_again", "tammepuu-2")],
        )
        .await;
    mismatch.assert_contains("Salasõnad ei ühti.");
    assert!(
        node.get_account(&id).await.must_change_password,
        "refused changes store nothing"
    );

    browser
        .submit(
            "/password",
            "/password",
            &[("password", "tammepuu-1"), ("password_again", "tammepuu-1")],
        )
        .await
        .assert_redirect("/");
    browser.get("/").await.assert_contains("Tere, Jaan Tamm!");
    node.browser()
        .sign_in("jaan tamm", "78ecd619")
        .await
        .assert_contains("Vale kasutajanimi");
    node.browser()
        .sign_in_ok("jaan tamm", "tammepuu-1", "Jaan Tamm")
        .await;
}

#[tokio::test]
async fn profile_saves_contact_data_and_a_new_password() {
    let node = TestNode::spawn().await;
    let id = node
        .account(
            "Mari",
            "Maasikas",
            None,
            Some(MARI_CODE),
            &[Role::Teacher],
            "maasikad-2024",
        )
        .await;
    let browser = node.mari_signed_in().await;
    let fields = [
        ("email", "Mari@Example.ee"),
        ("phone", "+372 5123 4567"),
        ("address", "Tamme tn 5-12, Jõgeva linn"),
    ];
    browser
        .submit("/profile", "/profile", &fields)
        .await
        .assert_redirect("/profile");
    let page = browser.get("/profile").await;
    page.assert_contains("Andmed on salvestatud.");
    browser
        .submit(
            "/profile",
            "/profile/password",
            &[
                ("current_password", "maasikad-2024"),
                ("password", "uus-salasõna"),
                ("password_again", "uus-salasõna"),
            ],
        )
        .await
        .assert_redirect("/profile");
    page.assert_contains("mari@example.ee");
    let account = node.get_account(&id).await;
    assert_eq!(account.phone.as_deref(), Some("+37251234567"));
    assert_eq!(
        account.address.as_deref(),
        Some("Tamme tn 5-12, Jõgeva linn")
    );
    node.browser()
        .sign_in_ok("mari@example.ee", "uus-salasõna", "Mari Maasikas")
        .await;
}

#[tokio::test]
async fn bad_profile_input_is_named_and_changes_nothing() {
    let node = TestNode::spawn().await;
    let id = node.mari().await;
    let browser = node.mari_signed_in().await;

    let bad_email = browser
        .submit(
            "/profile",
            "/profile",
            &[("email", "mari@"), ("phone", "5123 4567")],
        )
        .await;
    assert_eq!(bad_email.status, StatusCode::UNPROCESSABLE_ENTITY);
    bad_email.assert_contains("See ei ole e-posti aadress.");
    let short = browser
        .submit(
            "/profile",
            "/profile/password",
            &[
                ("current_password", "maasikad-2024"),
                ("password", "1234567"),
                ("password_again", "1234567"),
            ],
        )
        .await;
    short.assert_contains("Salasõna peab olema vähemalt 8 sümbolit pikk.");
    let mismatch = browser
        .submit(
            "/profile",
            "/profile/password",
            &[
                ("current_password", "maasikad-2024"),
                ("password", "12345678"),
                ("password_again", "12345679"),
            ],
        )
        .await;
    mismatch.assert_contains("Salasõnad ei ühti.");

    let account = node.get_account(&id).await;
    assert_eq!(account.email.as_deref(), Some("mari@example.ee"));
    assert_eq!(account.phone, None);
    node.browser()
        .sign_in_ok("Mari Maasikas", "maasikad-2024", "Mari Maasikas")
        .await;
}

/// A borrowed session (a browser left signed in) must not take the account over: changing
/// one's own password asks for the current one, on the profile and on the password page, and
/// wrong guesses are counted, a burst included.
#[tokio::test]
async fn a_new_password_of_ones_own_asks_for_the_current_one() {
    let node = TestNode::spawn().await;
    node.mari().await;
    let borrowed = node.mari_signed_in().await;
    for (page, action) in [
        ("/profile", "/profile/password"),
        ("/password", "/password"),
    ] {
        borrowed
            .get(page)
            .await
            .assert_contains("Praegune salasõna");
        let without = borrowed
            .submit(
                page,
                action,
                &[
                    ("password", "voetud-konto"),
                    ("password_again", "voetud-konto"),
                ],
            )
            .await;
        assert_eq!(without.status, StatusCode::UNPROCESSABLE_ENTITY, "{action}");
        without.assert_contains("Praegune salasõna on vale.");
    }
    // A burst of guesses: five are checked, the rest refused unchecked.
    let csrf = borrowed.get("/profile").await.csrf();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (browser, csrf) = (borrowed.clone(), csrf.clone());
        set.spawn(async move {
            let guess = format!("arvan-{i}");
            browser
                .post(
                    "/profile/password",
                    &[
                        ("csrf", csrf.as_str()),
                        ("current_password", guess.as_str()),
                        ("password", "voetud-konto"),
                        ("password_again", "voetud-konto"),
                    ],
                )
                .await
                .body
        });
    }
    let answers = set.join_all().await;
    let wrong = answers
        .iter()
        .filter(|b| b.contains("Praegune salasõna on vale."))
        .count();
    assert_eq!(wrong, 3, "with the two above, five checks in the window");
    // The password did not change.
    node.browser()
        .sign_in_ok("Mari Maasikas", "maasikad-2024", "Mari Maasikas")
        .await;
}

#[tokio::test]
async fn the_right_current_password_changes_it() {
    let node = TestNode::spawn().await;
    node.mari().await;
    let browser = node.mari_signed_in().await;
    browser
        .submit(
            "/profile",
            "/profile/password",
            &[
                ("current_password", "maasikad-2024"),
                ("password", "uus-salasõna-1"),
                ("password_again", "uus-salasõna-1"),
            ],
        )
        .await
        .assert_redirect("/profile");
    node.browser()
        .sign_in_ok("Mari Maasikas", "uus-salasõna-1", "Mari Maasikas")
        .await;
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let node = TestNode::spawn().await;
    let id = node.mari().await;
    let browser = node.mari_signed_in().await;
    let missing = browser
        .post("/profile", &[("email", "evil@example.ee")])
        .await;
    let wrong = browser
        .post(
            "/profile",
            &[("csrf", "0000"), ("email", "evil@example.ee")],
        )
        .await;
    for page in [&missing, &wrong] {
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        page.assert_contains("Vorm on aegunud või ei pärine sellelt lehelt.");
    }
    assert_eq!(
        node.get_account(&id).await.email.as_deref(),
        Some("mari@example.ee")
    );
    // A sign-in form from another site is refused too.
    let page = node
        .browser()
        .post(
            "/login",
            &[("username", "Mari Maasikas"), ("password", "maasikad-2024")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_parent_sets_the_childs_email_and_password() {
    let node = TestNode::spawn().await;
    let parent = node
        .account(
            "Jaan",
            "Tamm",
            Some("jaan@example.ee"),
            Some("37605030299"),
            &[Role::Parent],
            "isa-salasõna",
        )
        .await;
    let child = node
        .account(
            "Juku",
            "Tamm",
            None,
            Some(JUKU_CODE),
            &[Role::Student],
            "ajutine-x-1",
        )
        .await;
    school_node::service::accounts::add_child(&node.state.db, &parent, JUKU_CODE)
        .await
        .unwrap();
    let stranger = node
        .account(
            "Võõras",
            "Inimene",
            None,
            None,
            &[Role::Parent],
            "võõras-123",
        )
        .await;
    assert!(!stranger.is_empty());

    let browser = node.browser();
    browser
        .sign_in_ok("jaan tamm", "isa-salasõna", "Jaan Tamm")
        .await;
    let home = browser.get("/").await;
    home.assert_contains("Sinu lapsed");
    home.assert_contains(&format!("/children/{child}"));
    let path = format!("/children/{child}");
    let bad = browser
        .submit(
            &path,
            &path,
            &[
                ("email", "juku@example.ee"),
                ("password", "lühike"),
                ("password_again", "lühike"),
            ],
        )
        .await;
    bad.assert_contains("Salasõna peab olema vähemalt 8 sümbolit pikk.");
    assert_eq!(
        node.get_account(&child).await.email,
        None,
        "a refused form stores nothing"
    );
    let fields = [
        ("email", "juku@example.ee"),
        ("password", "jukupukk-1"),
        ("password_again", "jukupukk-1"),
    ];
    browser
        .submit(&path, &path, &fields)
        .await
        .assert_redirect(&path);
    node.browser()
        .sign_in_ok("juku@example.ee", "jukupukk-1", "Juku Tamm")
        .await;

    let other = node.browser();
    other
        .sign_in_ok("võõras inimene", "võõras-123", "Võõras Inimene")
        .await;
    assert_eq!(other.get(&path).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admin_creates_and_edits_accounts_with_clear_errors() {
    let node = TestNode::spawn().await;
    node.account(
        "Anne",
        "Direktor",
        Some("direktor@jpk.example.ee"),
        None,
        &[Role::Admin],
        "direktori-pw",
    )
    .await;
    let admin = node.director_signed_in().await;
    let before = node.account_count().await;

    let cases = [
        ("4940313651", "Isikukoodis peab olema 11 numbrit."),
        ("4940313651x", "Isikukood koosneb ainult numbritest."),
        ("99403136515", "Isikukoodi esimene number peab olema 1–8."),
        (
            "49413136515",
            "Isikukoodis olev sünnikuupäev ei ole õige kuupäev.",
        ),
        ("49403136516", "Isikukoodi kontrollnumber ei klapi"),
    ];
    for (code, message) in cases {
        let page = admin
            .submit(
                "/admin/accounts/new",
                "/admin/accounts",
                &[
                    ("first_name", "Mari"),
                    ("last_name", "Maasikas"),
                    ("personal_code", code),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{code}");
        page.assert_contains(message);
    }
    let missing = admin
        .submit(
            "/admin/accounts/new",
            "/admin/accounts",
            &[("first_name", ""), ("last_name", "Maasikas")],
        )
        .await;
    missing.assert_contains("See väli on kohustuslik.");
    assert_eq!(
        node.account_count().await,
        before,
        "refused forms store nothing"
    );

    let fields = [
        ("first_name", "Mari"),
        ("last_name", "Maasikas"),
        ("personal_code", MARI_CODE),
        ("email", "mari@example.ee"),
        ("roles", "teacher"),
        ("roles", "parent"),
        ("temporary_password", "ajutine-123"),
    ];
    let created = admin
        .submit("/admin/accounts/new", "/admin/accounts", &fields)
        .await;
    let location = created
        .location()
        .expect("redirect to the new account")
        .to_owned();
    assert!(location.starts_with("/admin/accounts/"), "{location}");
    let id = location.trim_start_matches("/admin/accounts/").to_owned();
    let account = node.get_account(&id).await;
    assert_eq!(account.roles, vec![Role::Parent, Role::Teacher]);
    assert!(account.must_change_password);

    let again = admin
        .submit(
            "/admin/accounts/new",
            "/admin/accounts",
            &[
                ("first_name", "Teine"),
                ("last_name", "Mari"),
                ("personal_code", MARI_CODE),
            ],
        )
        .await;
    again.assert_contains("Selle isikukoodiga konto on juba olemas.");

    // Edit: a new e-mail and the admin role; the form keeps what was typed on error.
    let edit = [
        ("first_name", "Mari"),
        ("last_name", "Maasikas-Tamm"),
        ("personal_code", MARI_CODE),
        ("email", "mari.mt@example.ee"),
        ("roles", "admin"),
    ];
    admin
        .submit(&location, &location, &edit)
        .await
        .assert_redirect(&location);
    let account = node.get_account(&id).await;
    assert_eq!(
        (account.last_name.as_str(), account.roles.as_slice()),
        ("Maasikas-Tamm", &[Role::Admin][..])
    );
    let bad_edit = admin
        .submit(
            &location,
            &location,
            &[
                ("first_name", "Mari"),
                ("last_name", "X"),
                ("email", "pole-aadress"),
            ],
        )
        .await;
    bad_edit.assert_contains("See ei ole e-posti aadress.");
    assert_eq!(node.get_account(&id).await.last_name, "Maasikas-Tamm");

    // Search finds by name in any case and spacing.
    admin
        .get("/admin/accounts?q=MARI%20maasikas")
        .await
        .assert_contains(&location);
}

#[tokio::test]
async fn admin_relates_parents_and_children() {
    let node = TestNode::spawn().await;
    node.director().await;
    let parent = node
        .account(
            "Jaan",
            "Tamm",
            None,
            Some("37605030299"),
            &[Role::Teacher],
            "isa-salasõna",
        )
        .await;
    let child = node
        .account(
            "Juku",
            "Tamm",
            None,
            Some(JUKU_CODE),
            &[Role::Student],
            "juku-salasõna",
        )
        .await;
    node.account(
        "Mari",
        "Maasikas",
        None,
        Some(MARI_CODE),
        &[Role::Teacher],
        "maasikad-2024",
    )
    .await;
    let admin = node.director_signed_in().await;
    let page = format!("/admin/accounts/{parent}");
    let action = format!("{page}/children");

    admin
        .submit(&page, &action, &[("child_code", "12345")])
        .await
        .assert_contains("Isikukoodis peab olema 11 numbrit.");
    admin
        .submit(&page, &action, &[("child_code", "61203150288")])
        .await
        .assert_contains("Selle isikukoodiga kasutajat koolis ei ole.");
    admin
        .submit(&page, &action, &[("child_code", MARI_CODE)])
        .await
        .assert_contains("ei ole õpilane");
    admin
        .submit(&page, &action, &[("child_code", "37605030299")])
        .await
        .assert_contains("iseenda lapseks");
    admin
        .submit(&page, &action, &[("child_code", JUKU_CODE)])
        .await
        .assert_redirect(&page);
    admin
        .get(&page)
        .await
        .assert_contains(&format!("/admin/accounts/{child}"));
    assert!(
        node.get_account(&parent)
            .await
            .roles
            .contains(&Role::Parent),
        "a parent of a child is a parent"
    );

    let remove = format!("{page}/children/{child}/remove");
    admin
        .submit(&page, &remove, &[])
        .await
        .assert_redirect(&page);
    assert!(
        school_node::service::accounts::children(&node.state.db, &parent)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn only_admins_reach_the_admin_pages() {
    let node = TestNode::spawn().await;
    node.mari().await;
    let teacher = node.browser();
    teacher
        .sign_in_ok("Mari Maasikas", "maasikad-2024", "Mari Maasikas")
        .await;
    for path in ["/admin/accounts", "/admin/accounts/new", "/admin/import"] {
        let page = teacher.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        page.assert_contains("Sul pole sellele lehele ligipääsu.");
    }
    node.browser()
        .get("/admin/accounts")
        .await
        .assert_redirect("/login?next=/admin/accounts");
}

#[tokio::test]
async fn closing_an_account_ends_its_session_and_sign_in() {
    let node = TestNode::spawn().await;
    node.director().await;
    let id = node.mari().await;
    let mari = node.browser();
    mari.sign_in_ok("Mari Maasikas", "maasikad-2024", "Mari Maasikas")
        .await;
    let admin = node.director_signed_in().await;
    let page = format!("/admin/accounts/{id}");
    admin
        .submit(&page, &format!("{page}/disable"), &[])
        .await
        .assert_redirect(&page);
    mari.get("/").await.assert_redirect("/login?next=/");
    node.browser()
        .sign_in("Mari Maasikas", "maasikad-2024")
        .await
        .assert_contains("Vale kasutajanimi");
    admin
        .submit(&page, &format!("{page}/enable"), &[])
        .await
        .assert_redirect(&page);
    node.browser()
        .sign_in_ok("Mari Maasikas", "maasikad-2024", "Mari Maasikas")
        .await;
}

#[tokio::test]
async fn csv_import_reports_every_row() {
    let node = TestNode::spawn().await;
    node.director().await;
    node.account(
        "Olemas",
        "Juba",
        None,
        Some("61203150288"),
        &[Role::Student],
        "olemas-123",
    )
    .await;
    let admin = node.director_signed_in().await;
    let before = node.account_count().await;
    let csv = "eesnimi;perekonnanimi;isikukood;e-post\n\
               Juku;Tamm;50001010006;juku@example.ee\n\
               Mari;Kask;51108230171;\n\
               ;Puudub;;\n\
               Teine;Juku;50001010006;\n\
               Kaks;Korda;61203150288;\n\
               Liis;Lepp;61506010147;pole-aadress\n\
               Õie;Õun;51410070006;\n";
    let csrf = admin.get("/admin/import").await.csrf();
    let page = admin
        .upload("/admin/import", &csrf, csv.as_bytes().to_vec())
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.assert_contains("Impordi tulemus");
    for text in [
        "Juku Tamm</td><td>Loodud",
        "Isikukoodi kontrollnumber ei klapi",
        "Eesnimi: See väli on kohustuslik.",
        "Sama isikukood on failis juba eespool.",
        "Selle isikukoodiga konto on juba olemas.",
        "E-post: See ei ole e-posti aadress.",
        "Õie Õun</td><td>Loodud",
    ] {
        page.assert_contains(text);
    }
    assert_eq!(node.account_count().await, before + 2);
    let juku = school_node::service::accounts::by_personal_code(
        &node.state.db,
        &JUKU_CODE.parse().unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        (juku.email.as_deref(), juku.roles.as_slice()),
        (Some("juku@example.ee"), &[Role::Student][..])
    );
}

#[tokio::test]
async fn a_broken_or_oversized_csv_changes_nothing() {
    let node = TestNode::spawn_with(|c| c.max_upload_bytes = 100 * 1024).await;
    node.director().await;
    let admin = node.director_signed_in().await;
    let before = node.account_count().await;
    let csrf = admin.get("/admin/import").await.csrf();

    let latin1 = b"eesnimi,perekonnanimi\nJ\xfcri,Tamm\n".to_vec();
    let page = admin.upload("/admin/import", &csrf, latin1).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    page.assert_contains("Fail ei ole UTF-8 kodeeringus tekst.");
    admin
        .upload("/admin/import", &csrf, b"nimi,kood\nJuku,1\n".to_vec())
        .await
        .assert_contains("Failil puuduvad veerud");
    admin
        .upload("/admin/import", &csrf, b"eesnimi,perekonnanimi\n".to_vec())
        .await
        .assert_contains("Failis pole ühtegi andmerida.");
    // An unterminated quote swallows the rest of the file into one field: that row is refused.
    admin
        .upload(
            "/admin/import",
            &csrf,
            b"eesnimi,perekonnanimi\n\"Juku,Tamm\n".to_vec(),
        )
        .await
        .assert_contains("Real on vale arv välju.");

    let mut huge = b"eesnimi,perekonnanimi\n".to_vec();
    while huge.len() < 200 * 1024 {
        huge.extend_from_slice(b"Juku,Tamm\n");
    }
    let page = admin.upload("/admin/import", &csrf, huge).await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    page.assert_contains("Saadetud andmed on liiga suured.");
    let wrong_token = admin
        .upload(
            "/admin/import",
            "vale",
            b"eesnimi,perekonnanimi\nJuku,Tamm\n".to_vec(),
        )
        .await;
    assert_eq!(wrong_token.status, StatusCode::FORBIDDEN);
    assert_eq!(node.account_count().await, before);
}

#[tokio::test]
async fn oversized_and_malformed_forms_get_a_page_not_a_crash() {
    let node = TestNode::spawn().await;
    let id = node.mari().await;
    let browser = node.mari_signed_in().await;
    let csrf = browser.get("/profile").await.csrf();
    let big = "x".repeat(100 * 1024);
    let page = browser
        .post(
            "/profile",
            &[("csrf", csrf.as_str()), ("address", big.as_str())],
        )
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    page.assert_contains("Saadetud andmed on liiga suured.");
    let raw = browser
        .client
        .post(format!("{}/profile", node.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&email=%ZZ%&phone"))
        .send()
        .await
        .unwrap();
    assert!(
        raw.status().is_client_error() || raw.status().is_redirection(),
        "{}",
        raw.status()
    );
    assert_eq!(
        node.get_account(&id).await.email.as_deref(),
        Some("mari@example.ee")
    );
    let missing = browser.get("/no/such/page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    missing.assert_contains("Seda lehte ei leitud.");
    missing.assert_contains("Päringu tunnus");
}

#[tokio::test]
async fn pages_speak_estonian_by_default_and_english_on_request() {
    let node = TestNode::spawn().await;
    node.browser()
        .get("/login")
        .await
        .assert_contains("<html lang=\"et\">");
    let english = Browser::with_language(&node.url, "en-GB,en;q=0.9");
    english.get("/login").await.assert_contains("Sign in");
    let browser = node.browser();
    let switch = browser.get("/lang/en").await;
    assert!(switch.status.is_redirection());
    browser.get("/login").await.assert_contains("Username");
    browser.get("/lang/et").await;
    browser.get("/login").await.assert_contains("Kasutajanimi");
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    let node = TestNode::spawn().await;
    node.mari().await;
    let browser = node.mari_signed_in().await;
    browser
        .submit("/", "/logout", &[])
        .await
        .assert_redirect("/login");
    browser.get("/").await.assert_redirect("/login?next=/");
}

#[tokio::test]
async fn sign_in_returns_to_the_page_asked_for_but_never_off_site() {
    let node = TestNode::spawn().await;
    node.mari().await;
    let browser = node.browser();
    let csrf = browser.get("/login?next=/profile").await.csrf();
    browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", "mari maasikas"),
                ("password", "maasikad-2024"),
                ("next", "/profile"),
            ],
        )
        .await
        .assert_redirect("/profile");
    let other = node.browser();
    let csrf = other.get("/login").await.csrf();
    other
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", "mari maasikas"),
                ("password", "maasikad-2024"),
                ("next", "//evil.example"),
            ],
        )
        .await
        .assert_redirect("/");
}

#[tokio::test]
async fn sessions_are_shared_by_instances_only_through_redis() {
    let node = TestNode::spawn().await;
    node.mari().await;
    let second = node.another_instance().await;
    let browser = node.mari_signed_in().await;
    // Same host, same cookie jar, another instance of the node.
    let at_second = Browser {
        base: second.url.clone(),
        client: browser.client.clone(),
    }
    .get("/")
    .await;
    if node.config.redis_url.is_some() {
        at_second.assert_contains("Tere, Mari Maasikas!");
    } else {
        at_second.assert_redirect("/login?next=/");
    }
}

#[tokio::test]
async fn health_reports_the_back_ends() {
    let node = TestNode::spawn().await;
    let response = reqwest::get(format!("{}/health", node.url)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "ready": true, "database": true, "ephemeral": true, "migrations": true, "problems": []
        })
    );
}

#[tokio::test]
async fn the_node_publishes_its_current_and_previous_federation_keys() {
    let node = TestNode::spawn().await;
    let kids = || async {
        let page = node.browser().get("/federation/jwks.json").await;
        let jwks: serde_json::Value = serde_json::from_str(&page.body).unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let first = node.state.node_key.kid.clone();
    assert_eq!(kids().await, std::slice::from_ref(&first));
    let second = school_node::sso::rotate_node_key(&node.state.db)
        .await
        .unwrap();
    assert_eq!(
        kids().await,
        [second.clone(), first],
        "the new key and the one before"
    );
    let third = school_node::sso::rotate_node_key(&node.state.db)
        .await
        .unwrap();
    assert_eq!(kids().await, [third, second], "two at most");
}

async fn ready(node: &TestNode) -> (StatusCode, serde_json::Value) {
    let page = node.browser().get("/health/ready").await;
    (page.status, serde_json::from_str(&page.body).unwrap())
}

#[tokio::test]
async fn readiness_names_the_store_that_does_not_answer() {
    let node = TestNode::spawn().await;
    let live = node.browser().get("/health/live").await;
    assert_eq!((live.status, live.body.as_str()), (StatusCode::OK, "ok"));
    let (status, report) = ready(&node).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["migrations"], true);

    // On PostgreSQL and Redis (as CI runs it): a Redis of the test's own, then stopped; the
    // node's database, then dropped.
    let (Ok(admin), Ok(_)) = (
        std::env::var("TEST_DATABASE_URL"),
        std::env::var("TEST_REDIS_URL"),
    ) else {
        return;
    };
    let (mut redis, redis_url) = crate::common::own_redis().await;
    let node = TestNode::spawn_with(|c| c.redis_url = Some(redis_url)).await;
    assert_eq!(ready(&node).await.0, StatusCode::OK);
    redis.kill().await.unwrap();
    let report = testkit::eventually(
        "not ready without Redis",
        Duration::from_secs(15),
        || async {
            match ready(&node).await {
                (StatusCode::SERVICE_UNAVAILABLE, report) => Ok(report),
                (status, report) => Err(format!("{status} {report}")),
            }
        },
    )
    .await;
    assert_eq!(report["ephemeral"], false, "{report}");
    assert_eq!(report["database"], true, "{report}");

    let node = TestNode::spawn().await;
    let url = node.config.database_url.clone().unwrap();
    let name = url.rsplit('/').next().unwrap().to_owned();
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let report = testkit::eventually(
        "not ready without the database",
        Duration::from_secs(15),
        || async {
            match ready(&node).await {
                (StatusCode::SERVICE_UNAVAILABLE, report) => Ok(report),
                (status, report) => Err(format!("{status} {report}")),
            }
        },
    )
    .await;
    assert_eq!(report["database"], false, "{report}");
    assert!(
        report["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("database"),
        "{report}"
    );
}

/// The session of a page that changes it (a form's CSRF token, here) cannot be saved: the
/// person gets the outage page (503, `Retry-After`) in their language, not a bare 500.
#[tokio::test]
async fn a_session_the_store_will_not_save_is_answered_as_an_outage() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        return;
    }
    let (_redis, redis_url) = crate::common::own_redis().await;
    let node = TestNode::spawn_with(|c| c.redis_url = Some(redis_url.clone())).await;
    assert_eq!(node.browser().get("/login").await.status, StatusCode::OK);

    // Reads still answered, every write refused: a master that lost its replicas.
    let set = tokio::process::Command::new("redis-cli")
        .args([
            "-u",
            &redis_url,
            "CONFIG",
            "SET",
            "min-replicas-to-write",
            "1",
        ])
        .output()
        .await
        .expect("redis-cli runs: TEST_REDIS_URL says Redis is installed");
    assert_eq!(String::from_utf8_lossy(&set.stdout).trim(), "OK");
    let page = node.browser().get("/login").await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.body
    );
    assert!(page.headers.contains_key("retry-after"));
    page.assert_contains("Teenus on hetkeks kättesaamatu");
}
