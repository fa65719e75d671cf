//! E-mail through a real SMTP server: password recovery links, account applications and the
//! admin's decisions, and the outbox that loses nothing while the server is down.

use std::time::Duration;

use crate::common::{Browser, TestNode};
use reqwest::StatusCode;
use school_node::store::accounts::Role;
use testkit::smtp::{SmtpServer, link_in, temporary_password_in};

const JUKU_CODE: &str = "50001010006";
const PARENT_CODE: &str = "38501010220";

#[tokio::test]
async fn a_recovery_link_signs_in_once_and_sets_the_password() {
    let smtp = SmtpServer::start().await;
    let node = TestNode::spawn_with_smtp(&smtp).await;
    node.mari().await;
    let browser = node.browser();
    let sent = browser
        .submit("/forgot", "/forgot", &[("username", "MARI maasikas")])
        .await;
    sent.assert_redirect("/forgot/sent");
    let page = browser.get("/forgot/sent").await;
    page.assert_contains("saatsime sinna sisselogimise lingi");
    page.assert_contains("ID-kaardi või Smart-IDga");
    page.assert_contains("direktoril");
    page.assert_contains("/apply");

    let mail = &smtp.wait_for(1).await[0];
    assert_eq!(mail.to, ["mari@example.ee"]);
    assert!(mail.from.contains("robot@jpk.example.ee"), "{}", mail.from);
    assert!(
        mail.text().contains("Sisselogimise link"),
        "{}",
        mail.text()
    );
    assert!(
        mail.text().contains("Jõgeva Põhikool"),
        "the sender is the institution"
    );
    let path = node.path_of(&link_in(mail));

    let visitor = node.browser();
    visitor.get(&path).await.assert_contains("Mari Maasikas");
    // A typo does not use up the link.
    let short = visitor
        .submit(
            &path,
            &path,
            &[("password", "lühike"), ("password_again", "lühike")],
        )
        .await;
    short.assert_contains("Salasõna peab olema vähemalt 8 sümbolit pikk.");
    let chosen = [
        ("password", "uus-salasõna-1"),
        ("password_again", "uus-salasõna-1"),
    ];
    visitor
        .submit(&path, &path, &chosen)
        .await
        .assert_redirect("/");
    visitor
        .get("/")
        .await
        .assert_contains("Tere, Mari Maasikas!");

    node.browser()
        .sign_in("Mari Maasikas", "maasikad-2024")
        .await
        .assert_contains("Vale kasutajanimi");
    node.browser()
        .sign_in_ok("mari@example.ee", "uus-salasõna-1", "Mari Maasikas")
        .await;

    // Used once: the same link neither opens nor sets anything again.
    let again = node.browser();
    let reused = again.get(&path).await;
    assert_eq!(reused.status, StatusCode::GONE);
    reused.assert_contains("See link on aegunud, juba kasutatud või vigane.");
    let csrf = again.get("/forgot").await.csrf();
    let replay = again
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("password", "kolmas-salasõna"),
                ("password_again", "kolmas-salasõna"),
            ],
        )
        .await;
    assert_eq!(replay.status, StatusCode::GONE);
    node.browser()
        .sign_in_ok("mari@example.ee", "uus-salasõna-1", "Mari Maasikas")
        .await;
}

#[tokio::test]
async fn the_answer_is_the_same_whether_or_not_an_account_exists() {
    let smtp = SmtpServer::start().await;
    let node = TestNode::spawn_with_smtp(&smtp).await;
    node.account(
        "Juku",
        "Tamm",
        None,
        Some(JUKU_CODE),
        &[Role::Student],
        "juku-salasõna",
    )
    .await;
    node.mari().await;
    let mut answers = Vec::new();
    for typed in ["Keegi Pole", "juku tamm", "mari maasikas"] {
        let browser = node.browser();
        let page = browser
            .submit("/forgot", "/forgot", &[("username", typed)])
            .await;
        page.assert_redirect("/forgot/sent");
        answers.push(browser.get("/forgot/sent").await.body);
    }
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "one answer for every case"
    );
    // Only Mari has an e-mail address: one letter, to her.
    let received = smtp.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 1);
    assert_eq!(received[0].to, ["mari@example.ee"]);
}

#[tokio::test]
async fn expired_and_forged_links_are_refused_and_change_nothing() {
    let smtp = SmtpServer::start().await;
    let node = TestNode::spawn_with_smtp(&smtp).await;
    node.mari().await;
    let browser = node.browser();
    browser
        .submit("/forgot", "/forgot", &[("username", "mari@example.ee")])
        .await;
    let path = node.path_of(&link_in(&smtp.wait_for(1).await[0]));
    shared::with_pool!(&node.state.db, pool => sqlx::query("UPDATE sign_in_tokens SET expires_at = 0").execute(pool).await.unwrap().rows_affected());

    let forged = format!("/reset/{}", "ab".repeat(32));
    for bad in [
        path.as_str(),
        forged.as_str(),
        "/reset/short",
        "/reset/%3Cscript%3E",
    ] {
        let page = browser.get(bad).await;
        assert_eq!(page.status, StatusCode::GONE, "{bad}");
        page.assert_contains("See link on aegunud, juba kasutatud või vigane.");
        let csrf = browser.get("/forgot").await.csrf();
        let post = browser
            .post(
                bad,
                &[
                    ("csrf", &csrf),
                    ("password", "häkker-123"),
                    ("password_again", "häkker-123"),
                ],
            )
            .await;
        assert_eq!(post.status, StatusCode::GONE, "{bad}");
    }
    browser.get("/").await.assert_redirect("/login?next=/");
    node.browser()
        .sign_in_ok("Mari Maasikas", "maasikad-2024", "Mari Maasikas")
        .await;
}

/// Fills in step one and returns the page step two answers with.
async fn apply(
    browser: &Browser,
    children: &str,
    code: &str,
    email: &str,
    again: &str,
) -> crate::common::Page {
    let step_one = [
        ("children_codes", children),
        ("personal_code", code),
        ("first_name", "Jaan"),
        ("last_name", "Tamm"),
        ("email", email),
        ("phone", "+372 5555 1234"),
    ];
    browser
        .submit("/apply", "/apply", &step_one)
        .await
        .assert_redirect("/apply/confirm");
    browser
        .submit(
            "/apply/confirm",
            "/apply/confirm",
            &[("email_again", again)],
        )
        .await
}

#[tokio::test]
async fn a_parent_applies_the_admin_approves_and_the_letter_signs_them_in() {
    let smtp = SmtpServer::start().await;
    let node = TestNode::spawn_with_smtp(&smtp).await;
    node.director().await;
    let juku = node
        .account(
            "Juku",
            "Tamm",
            None,
            Some(JUKU_CODE),
            &[Role::Student],
            "juku-salasõna",
        )
        .await;

    let parent = node.browser();
    let done = apply(
        &parent,
        &format!("{JUKU_CODE}  61203150288"),
        PARENT_CODE,
        "jaan@example.ee",
        "JAAN@example.ee",
    )
    .await;
    done.assert_redirect("/apply/done");
    let page = parent.get("/apply/done").await;
    page.assert_contains("✔ Taotlus on esitatud!");
    page.assert_contains("Kui kool taotluse heaks kiidab");
    assert!(
        !page.body.contains("Juku"),
        "the applicant is not told who attends"
    );
    let receipt = &smtp.wait_for(1).await[0];
    assert_eq!(receipt.to, ["jaan@example.ee"]);
    assert!(
        receipt.text().contains("sinu kontotaotlus on esitatud"),
        "{}",
        receipt.text()
    );

    // A second application for the same personal code is answered like a new one (the answer
    // tells nothing of what is pending), and the admin sees both.
    let again = apply(
        &node.browser(),
        JUKU_CODE,
        PARENT_CODE,
        "jaan@example.ee",
        "jaan@example.ee",
    )
    .await;
    again.assert_redirect("/apply/done");
    assert_eq!(node.application_count().await, 2);

    let admin = node.director_signed_in().await;
    let review = admin.get("/admin/applications").await;
    review.assert_contains("Jaan Tamm (38501010220)");
    review.assert_contains(&format!(
        "{JUKU_CODE}: <span class=\"match\">õpilane Juku Tamm</span>"
    ));
    review.assert_contains(
        "61203150288: <span class=\"no-match\">seda isikukoodi koolis ei ole</span>",
    );
    let id = review
        .body
        .split("id=\"application-")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let approve = format!("/admin/applications/{id}/approve");
    admin
        .submit("/admin/applications", &approve, &[])
        .await
        .assert_redirect("/admin/applications");
    let twice = admin.submit("/admin/applications", &approve, &[]).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);

    // Two receipts (one for each application), then the new account's letter.
    let letters = smtp.wait_for(3).await;
    let letter = letters
        .iter()
        .find(|l| l.text().contains("sulle on loodud uus konto"))
        .expect("the new account's letter");
    assert_eq!(letter.to, ["jaan@example.ee"]);
    let password = temporary_password_in(letter);
    // The temporary password is only in the letter: the outbox forgets it once the letter is
    // recorded as sent (a moment after the server has it).
    testkit::eventually("the outbox forgot the password", std::time::Duration::from_secs(10), || async {
        let kept: Vec<String> = shared::with_pool!(&node.state.db, pool => sqlx::query_scalar("SELECT body_text FROM mail_outbox").fetch_all(pool).await.unwrap());
        if kept.iter().all(|body| !body.contains(&password)) {
            Ok(())
        } else {
            Err("a body still holds it".to_owned())
        }
    })
    .await;

    parent
        .sign_in("jaan tamm", &password)
        .await
        .assert_redirect("/password");
    parent
        .submit(
            "/password",
            "/password",
            &[
                ("password", "jaani-oma-1"),
                ("password_again", "jaani-oma-1"),
            ],
        )
        .await
        .assert_redirect("/");
    let home = parent.get("/").await;
    home.assert_contains("lapsevanem");
    home.assert_contains(&format!("/children/{juku}"));
}

#[tokio::test]
async fn a_rejection_needs_a_reason_and_sends_it() {
    let smtp = SmtpServer::start().await;
    let node = TestNode::spawn_with_smtp(&smtp).await;
    node.director().await;
    apply(
        &node.browser(),
        JUKU_CODE,
        PARENT_CODE,
        "jaan@example.ee",
        "jaan@example.ee",
    )
    .await
    .assert_redirect("/apply/done");
    smtp.wait_for(1).await;
    let admin = node.director_signed_in().await;
    let id = first_application(&admin).await;
    let reject = format!("/admin/applications/{id}/reject");
    admin
        .submit("/admin/applications", &reject, &[("reason", "  ")])
        .await
        .assert_contains("See väli on kohustuslik.");
    admin
        .submit(
            "/admin/applications",
            &reject,
            &[("reason", "Lapsed ei õpi meie koolis.")],
        )
        .await
        .assert_redirect("/admin/applications");
    let letter = &smtp.wait_for(2).await[1];
    assert!(
        letter.text().contains("Põhjus: Lapsed ei õpi meie koolis."),
        "{}",
        letter.text()
    );
    admin
        .get("/admin/applications")
        .await
        .assert_contains("tagasi lükatud");
}

#[tokio::test]
async fn bad_applications_say_what_is_wrong_and_store_nothing() {
    let smtp = SmtpServer::start().await;
    let node = TestNode::spawn_with_smtp(&smtp).await;
    let browser = node.browser();
    let fields = [
        ("children_codes", "50001010006 5000101000x 49403136516"),
        ("personal_code", "3850101022"),
        ("first_name", ""),
        ("last_name", "Tamm"),
        ("email", "jaan@"),
        ("phone", "abc"),
    ];
    let page = browser.submit("/apply", "/apply", &fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    for message in [
        "Lapse isikukood 5000101000x: Isikukood koosneb ainult numbritest.",
        "Lapse isikukood 49403136516: Isikukoodi kontrollnumber ei klapi",
        "Isikukoodis peab olema 11 numbrit.",
        "See väli on kohustuslik.",
        "See ei ole e-posti aadress.",
        "See ei ole telefoninumber.",
    ] {
        page.assert_contains(message);
    }
    page.assert_contains("value=\"Tamm\"");
    let empty = browser
        .submit("/apply", "/apply", &[("children_codes", "")])
        .await;
    assert!(
        empty.body.matches("See väli on kohustuslik.").count() >= 5,
        "{}",
        empty.body
    );

    let mismatch = apply(
        &browser,
        JUKU_CODE,
        PARENT_CODE,
        "jaan@example.ee",
        "jaan@example.com",
    )
    .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    mismatch.assert_contains("E-posti aadressid ei ühti.");
    // Step two without step one starts over.
    node.browser()
        .get("/apply/confirm")
        .await
        .assert_redirect("/apply");
    assert_eq!(node.application_count().await, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(smtp.received().is_empty());
}

#[tokio::test]
async fn nothing_is_lost_while_the_smtp_server_is_down() {
    let mut smtp = SmtpServer::start().await;
    let node = TestNode::spawn_with_smtp(&smtp).await;
    node.mari().await;
    smtp.stop().await;

    apply(
        &node.browser(),
        JUKU_CODE,
        PARENT_CODE,
        "jaan@example.ee",
        "jaan@example.ee",
    )
    .await
    .assert_redirect("/apply/done");
    node.browser()
        .submit("/forgot", "/forgot", &[("username", "Mari Maasikas")])
        .await
        .assert_redirect("/forgot/sent");
    // Both wait in the outbox while delivery fails and is retried.
    for _ in 0..100 {
        let failures: i64 = shared::with_pool!(&node.state.db, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM mail_outbox WHERE attempts >= 2 AND sent_at IS NULL"
        ).fetch_one(pool).await.unwrap());
        if failures == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(node.unsent_mail().await, 2);
    assert!(smtp.received().is_empty());

    smtp.restart().await;
    let received = smtp.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.received().len(), 2, "each message exactly once");
    let mut to: Vec<&str> = received.iter().map(|m| m.to[0].as_str()).collect();
    to.sort();
    assert_eq!(to, ["jaan@example.ee", "mari@example.ee"]);
    assert_eq!(node.unsent_mail().await, 0);
}

#[tokio::test]
async fn by_default_mail_is_written_to_the_mail_folder() {
    let node = TestNode::spawn().await;
    node.mari().await;
    node.browser()
        .submit("/forgot", "/forgot", &[("username", "Mari Maasikas")])
        .await
        .assert_redirect("/forgot/sent");
    let folder = node.config.data_dir.join("mail");
    for _ in 0..100 {
        if node.unsent_mail().await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let content = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        content.contains("mari@example.ee") && content.contains("/reset/"),
        "{content}"
    );
}

#[tokio::test]
async fn a_letter_past_its_deadline_is_shown_to_the_admin_to_retry_or_discard() {
    let mut smtp = SmtpServer::start().await;
    let node = TestNode::spawn_with_smtp_and(&smtp, |c| {
        c.mail.retry_base_millis = 200;
        c.mail.deadline_seconds = 1;
    })
    .await;
    node.mari().await;
    node.director().await;
    node.account(
        "Jaan",
        "Tamm",
        Some("jaan@example.ee"),
        None,
        &[Role::Parent],
        "jaani-parool-1",
    )
    .await;
    let admin = node.director_signed_in().await;
    smtp.stop().await;
    for name in ["Mari Maasikas", "Jaan Tamm"] {
        node.browser()
            .submit("/forgot", "/forgot", &[("username", name)])
            .await
            .assert_redirect("/forgot/sent");
    }
    // Past the deadline the letters are given up: not retried in silence, but listed.
    let page = testkit::eventually("both letters given up", Duration::from_secs(10), || async {
        let page = admin.get("/admin/mail").await;
        if page.body.matches("data-letter=").count() == 2 {
            Ok(page)
        } else {
            Err(page.body)
        }
    })
    .await;
    page.assert_contains("mari@example.ee");
    page.assert_contains("sisselogimise link");
    assert_eq!(node.unsent_mail().await, 0, "nothing waits in silence");
    let id_of = |page: &crate::common::Page, to: &str| {
        page.body
            .split("<tr data-letter=\"")
            .skip(1)
            .find(|row| row.contains(to))
            .and_then(|row| row.split('"').next())
            .unwrap()
            .to_owned()
    };
    let (mari_letter, anne_letter) = (
        id_of(&page, "mari@example.ee"),
        id_of(&page, "jaan@example.ee"),
    );

    // The server is back: Mari's letter is tried again and arrives; Anne's is discarded.
    smtp.restart().await;
    admin
        .submit(
            "/admin/mail",
            &format!("/admin/mail/{mari_letter}/retry"),
            &[],
        )
        .await
        .assert_redirect("/admin/mail");
    admin
        .submit(
            "/admin/mail",
            &format!("/admin/mail/{anne_letter}/discard"),
            &[],
        )
        .await
        .assert_redirect("/admin/mail");
    let received = smtp.wait_for(1).await;
    assert_eq!(received[0].to, ["mari@example.ee"]);
    let page = admin.get("/admin/mail").await;
    page.assert_contains("Kõik kirjad on kohale toimetatud.");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 1, "the discarded letter never goes");
}

#[tokio::test]
async fn a_stored_address_the_mailer_cannot_use_is_given_up_at_once() {
    let smtp = SmtpServer::start().await;
    let node = TestNode::spawn_with_smtp(&smtp).await;
    node.director().await;
    let mail = school_node::store::outbox::NewMail {
        purpose: school_node::store::outbox::Purpose::SignInLink,
        recipient: "malle..vanem@example.ee".into(),
        subject: "x".into(),
        text: "x".into(),
        html: "x".into(),
    };
    node.state.outbox.enqueue(&mail).await.unwrap();
    let admin = node.director_signed_in().await;
    testkit::eventually("the letter is given up", Duration::from_secs(5), || async {
        let page = admin.get("/admin/mail").await;
        if page.body.contains("malle..vanem@example.ee")
            && page.body.contains("cannot receive mail")
        {
            Ok(())
        } else {
            Err(page.body)
        }
    })
    .await;
    assert!(smtp.received().is_empty());
}

#[tokio::test]
async fn the_retention_sweep_forgets_sent_letters_and_spent_links() {
    let smtp = SmtpServer::start().await;
    let node = TestNode::spawn_with_smtp(&smtp).await;
    node.mari().await;
    node.browser()
        .submit("/forgot", "/forgot", &[("username", "Mari Maasikas")])
        .await
        .assert_redirect("/forgot/sent");
    smtp.wait_for(1).await;
    testkit::eventually(
        "the letter is marked sent",
        Duration::from_secs(5),
        || async {
            match node.unsent_mail().await {
                0 => Ok(()),
                n => Err(format!("{n} unsent")),
            }
        },
    )
    .await;
    let db = &node.state.db;
    let count = |table: &'static str| async move {
        let n: i64 = shared::with_pool!(db, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(
            format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}")
        )).fetch_one(pool).await.unwrap());
        n
    };
    assert_eq!(
        (count("mail_outbox").await, count("sign_in_tokens").await),
        (1, 1)
    );
    let keep = 30 * 86_400;
    let now = school_node::store::now();
    let early = school_node::store::retention::sweep(&node.state.db, now, keep)
        .await
        .unwrap();
    assert_eq!(early, Default::default(), "nothing that may still matter");
    let later = school_node::store::retention::sweep(&node.state.db, now + 31 * 86_400, keep)
        .await
        .unwrap();
    assert_eq!((later.letters, later.sign_in_links), (1, 1));
    assert_eq!(
        (count("mail_outbox").await, count("sign_in_tokens").await),
        (0, 0)
    );
}

/// The sweep runs by itself soon after start, at the period it is given.
#[tokio::test]
async fn the_retention_sweep_runs_soon_after_start_at_its_setting() {
    let smtp = SmtpServer::start().await;
    let node = TestNode::spawn_with_smtp_and(&smtp, |c| {
        c.retention_hours = 0;
        c.retention_sweep_seconds = 1;
    })
    .await;
    node.mari().await;
    node.browser()
        .submit("/forgot", "/forgot", &[("username", "Mari Maasikas")])
        .await
        .assert_redirect("/forgot/sent");
    smtp.wait_for(1).await;
    let db = node.state.db.clone();
    testkit::eventually(
        "the sent letter is swept",
        Duration::from_secs(10),
        || async {
            let n: i64 = shared::with_pool!(&db, pool => sqlx::query_scalar(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM mail_outbox"
            ).fetch_one(pool).await.unwrap());
            if n == 0 {
                Ok(())
            } else {
                Err(format!("{n} letters kept"))
            }
        },
    )
    .await;
}

/// A parent who reads Russian applies in Russian: the receipt and, after approval, the
/// temporary password come in Russian at a real SMTP server, and the new account keeps the
/// language for the letters after (a sign-in link).
#[tokio::test]
async fn an_application_in_russian_gets_its_letters_in_russian() {
    let smtp = SmtpServer::start().await;
    let node = TestNode::spawn_with_smtp(&smtp).await;
    node.director().await;
    node.account(
        "Juku",
        "Tamm",
        None,
        Some(JUKU_CODE),
        &[Role::Student],
        "juku-salasõna",
    )
    .await;
    let parent = Browser::with_language(&node.url, "ru");
    let form = parent.get("/apply").await;
    form.assert_contains("<html lang=\"ru\"");
    form.assert_contains("Заявление на учётную запись родителя");
    apply(
        &parent,
        JUKU_CODE,
        PARENT_CODE,
        "jaan@example.ee",
        "jaan@example.ee",
    )
    .await
    .assert_redirect("/apply/done");
    parent
        .get("/apply/done")
        .await
        .assert_contains("✔ Заявление подано!");
    let receipt = &smtp.wait_for(1).await[0];
    assert!(
        receipt
            .text()
            .contains("Ваше заявление на учётную запись подано"),
        "{}",
        receipt.text()
    );
    assert!(
        receipt
            .subject()
            .contains("Taotlus on esitatud / Заявление подано"),
        "{}",
        receipt.subject()
    );

    // The admin works in Estonian; the letter still goes in the application's language.
    let admin = node.director_signed_in().await;
    let id = first_application(&admin).await;
    admin
        .submit(
            "/admin/applications",
            &format!("/admin/applications/{id}/approve"),
            &[],
        )
        .await
        .assert_redirect("/admin/applications");
    let letters = smtp.wait_for(2).await;
    let letter = letters
        .iter()
        .find(|l| l.text().contains("Для вас создана новая учётная запись"))
        .unwrap_or_else(|| {
            panic!(
                "the new account's letter in Russian: {:?}",
                letters.iter().map(|l| l.text()).collect::<Vec<_>>()
            )
        });
    let password = temporary_password_in(letter);
    assert!(password.len() >= 8, "{}", letter.text());

    // A sign-in link asked for from an Estonian page still comes in the account's language.
    let estonian = node.browser();
    estonian
        .submit("/forgot", "/forgot", &[("username", "jaan@example.ee")])
        .await;
    let letters = smtp.wait_for(3).await;
    let link = letters
        .iter()
        .find(|l| l.text().contains("По этой ссылке вы можете войти"))
        .expect("the sign-in link in Russian");
    assert!(
        link.subject().contains("Ссылка для входа"),
        "{}",
        link.subject()
    );
}

/// The id of the first application on the admin's list.
async fn first_application(admin: &Browser) -> String {
    let review = admin.get("/admin/applications").await;
    review
        .body
        .split("id=\"application-")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}
