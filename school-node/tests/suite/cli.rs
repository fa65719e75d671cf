//! The `school-node` command: create an admin and import students, then use them over HTTP.

use std::process::Command;

use crate::common::TestNode;

fn school_node(config: &school_node::Config, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_school-node"));
    cmd.args(args)
        .env("SCHOOL_INSTITUTION_ID", &config.institution_id)
        .env("SCHOOL_INSTITUTION_NAME", &config.institution_name)
        .env("SCHOOL_DATA_DIR", &config.data_dir)
        .env("RUST_LOG", "warn");
    if let Some(url) = &config.database_url {
        cmd.env("SCHOOL_DATABASE_URL", url);
    }
    cmd.output().expect("the binary runs")
}

#[tokio::test]
async fn create_admin_prints_a_temporary_password_that_must_be_changed() {
    let node = TestNode::spawn().await;
    let out = school_node(
        &node.config,
        &[
            "create-admin",
            "--first-name",
            "Anne",
            "--last-name",
            "Direktor",
            "--email",
            "anne@example.ee",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("temporary password: "))
        .expect("the password is printed")
        .to_owned();
    let browser = node.browser();
    browser
        .sign_in("anne direktor", &password)
        .await
        .assert_redirect("/password");
    browser
        .submit(
            "/password",
            "/password",
            &[
                ("password", "direktori-uus"),
                ("password_again", "direktori-uus"),
            ],
        )
        .await
        .assert_redirect("/");
    assert_eq!(
        browser.get("/admin/accounts").await.status,
        reqwest::StatusCode::OK
    );

    let bad = school_node(
        &node.config,
        &[
            "create-admin",
            "--first-name",
            "X",
            "--last-name",
            "Y",
            "--email",
            "pole",
        ],
    );
    assert!(!bad.status.success());
    assert_eq!(
        node.account_count().await,
        1,
        "a refused admin is not stored"
    );
}

#[tokio::test]
async fn import_csv_reports_rows_and_refuses_broken_files() {
    let node = TestNode::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("students.csv");
    std::fs::write(
        &good,
        "first_name,last_name,personal_code\nJuku,Tamm,50001010006\nMia,Maasikas,61203150289\n",
    )
    .unwrap();
    let out = school_node(&node.config, &["import-csv", good.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("Juku Tamm\tCreated"), "{stdout}");
    assert!(stdout.contains("Mia Maasikas\tRejected"), "{stdout}");
    assert_eq!(node.account_count().await, 1);

    let broken = dir.path().join("broken.csv");
    std::fs::write(&broken, b"eesnimi,perekonnanimi\nJ\xfcri,Tamm\n").unwrap();
    let out = school_node(&node.config, &["import-csv", broken.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was imported"));
    assert_eq!(node.account_count().await, 1);
}

#[tokio::test]
async fn a_mistaken_configuration_is_named_at_start() {
    let node = TestNode::spawn().await;
    let mut config = node.config.clone();
    config.institution_id = "Jõgeva Kool".into();
    let out = school_node(&config, &["import-csv", "/nonexistent.csv"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("institution_id must be"), "{stderr}");
}

#[tokio::test]
async fn check_config_names_every_problem_without_starting() {
    let node = TestNode::spawn().await;
    let good = school_node(&node.config, &["check-config"]);
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert!(
        good.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(
        stdout.contains("ok       database and ephemeral store"),
        "{stdout}"
    );

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_school-node"));
    cmd.arg("check-config")
        .env("SCHOOL_INSTITUTION_ID", &node.config.institution_id)
        .env("SCHOOL_DATA_DIR", &node.config.data_dir)
        .env("SCHOOL_SSO__ISSUER", "http://127.0.0.1:9")
        .env("SCHOOL_SSO__CLIENT_ID", "jpk")
        .env("SCHOOL_MAIL__TRANSPORT", "smtp")
        .env("SCHOOL_MAIL__SMTP_HOST", "127.0.0.1")
        .env("SCHOOL_MAIL__SMTP_PORT", "9")
        .env("RUST_LOG", "warn");
    if let Some(url) = &node.config.database_url {
        cmd.env("SCHOOL_DATABASE_URL", url);
    }
    let bad = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success(), "{stdout}");
    assert!(stdout.contains("PROBLEM  the IdP's discovery"), "{stdout}");
    assert!(
        stdout.contains("PROBLEM  SMTP server: 127.0.0.1:9"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok       database and ephemeral store"),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_backup_taken_while_the_node_runs_restores_every_account() {
    let node = TestNode::spawn().await;
    if node.config.database_url.is_some() {
        // PostgreSQL is backed up with pg_dump (docs/OPERATIONS.md), not by this command.
        let out = school_node(&node.config, &["backup", "/tmp/never-written.db"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
        return;
    }
    node.mari().await;
    let restored_dir = tempfile::tempdir().unwrap();
    let backup = restored_dir.path().join("school-node.db");
    let out = school_node(&node.config, &["backup", backup.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Restore: a node started on the copy has Mari, and she signs in.
    let restored = TestNode::spawn_with(|c| {
        c.data_dir = restored_dir.path().to_path_buf();
        c.database_url = None;
    })
    .await;
    restored
        .browser()
        .sign_in_ok("Mari Maasikas", "maasikad-2024", "Mari Maasikas")
        .await;
}

/// `school-node events` prints what the pages show, filtered, as JSON lines for an export;
/// the events survive a restart (they are in the database, not in memory).
#[tokio::test]
async fn events_prints_an_accounts_events_as_json_lines() {
    let node = TestNode::spawn().await;
    let mari = node.mari().await;
    node.mari_signed_in().await;
    node.browser()
        .sign_in("Mari Maasikas", "vale-salasona")
        .await
        .assert_contains("Vale kasutajanimi");
    let out = school_node(
        &node.config,
        &[
            "events",
            "--account",
            &mari,
            "--kind",
            "signin.password",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["failed:invalid_password", "ok"], "newest first");
    assert!(lines.iter().all(|e| e["subject"] == mari.as_str()));
    let text = school_node(&node.config, &["events", "--since", "2020-01-01"]);
    assert!(
        String::from_utf8(text.stdout)
            .unwrap()
            .contains("signin.password ok")
    );
    let bad = school_node(&node.config, &["events", "--since", "eile"]);
    assert!(!bad.status.success());
}
