//! What every test suite of the federation shares, written once: a fresh database on the
//! server `TEST_DATABASE_URL` names (failing, never skipping, when it is named but not there),
//! a real SMTP server, waiting for a condition, and the IdP's sign-in form. It depends on
//! neither service, so each service's own suite can use it.

pub mod smtp;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A name no other test of this run (or of an earlier one) has used.
pub fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}_{}",
        uuid::Uuid::new_v4().simple(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new PostgreSQL database named `<prefix>_…` when TEST_DATABASE_URL names a server
/// (failing if it is not reachable), or None for SQLite.
pub async fn fresh_database(prefix: &str) -> Option<String> {
    let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
    let name = format!("{prefix}_{}", unique());
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
        panic!("TEST_DATABASE_URL is set but PostgreSQL is not reachable: {e}")
    });
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create a test database");
    admin.close().await;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

/// Asks `probe` again and again until it gives a value, for at most `within`; panics with
/// `what` and the last answer's description otherwise.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    match try_eventually(within, probe).await {
        Ok(value) => value,
        Err(last) => panic!("{what}: not so after {within:?}; last seen: {last}"),
    }
}

/// As `eventually`, but gives the last description back instead of panicking, for a caller
/// that adds more to the failure message.
pub async fn try_eventually<T, F, Fut>(within: Duration, probe: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    try_eventually_every(within, Duration::from_millis(50), probe).await
}

/// As `try_eventually`, asking every `every` (a benchmark timing the wait asks often).
pub async fn try_eventually_every<T, F, Fut>(
    within: Duration,
    every: Duration,
    mut probe: F,
) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(last) if started.elapsed() >= within => return Err(last),
            Err(_) => tokio::time::sleep(every).await,
        }
    }
}

/// A port nothing listens on right now, below the kernel's ephemeral range (32768 and up):
/// a port from that range, held for a process that starts later, can meanwhile become the
/// source port of some outgoing connection (a pool's database connection), and the process
/// then fails to start with "address in use".
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    if NEXT.load(Ordering::Relaxed) == u32::MAX {
        // Each test process starts somewhere else in the span, so that two pick apart.
        let seed = uuid::Uuid::new_v4().as_u128() as u32 % SPAN;
        let _ = NEXT.compare_exchange(u32::MAX, seed, Ordering::Relaxed, Ordering::Relaxed);
    }
    for _ in 0..SPAN {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + SPAN)
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The value of the first hidden field `name` in a page.
pub fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in:\n{body}"))
        + marker.len();
    body[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Every hidden field of a page, in order.
pub fn hidden_fields(body: &str) -> Vec<(String, String)> {
    body.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once('"')?;
            let value = rest.strip_prefix(" value=\"")?.split('"').next()?;
            Some((name.to_owned(), unescape(value)))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Presses "Logi välja" on the IdP's sign-out confirmation page (`page` is its HTML, fetched
/// by this same `client`).
pub async fn confirm_idp_logout(
    client: &reqwest::Client,
    idp: &str,
    page: &str,
) -> reqwest::Response {
    assert!(
        page.contains("action=\"/logout/confirm\""),
        "not the sign-out confirmation: {page}"
    );
    client
        .post(format!("{idp}/logout/confirm"))
        .form(&hidden_fields(page))
        .send()
        .await
        .expect("the IdP answers")
}

/// Sends an authorization request (with a client that shows redirects rather than following
/// them) and opens the IdP's sign-in page it leads to; returns the page's HTML.
pub async fn sign_in_page(client: &reqwest::Client, idp: &str, authorize: &str) -> String {
    let answer = client.get(authorize).send().await.expect("the IdP answers");
    let to_form = answer
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no redirect to the sign-in page: {}", answer.status()))
        .to_owned();
    client
        .get(format!("{idp}{to_form}"))
        .send()
        .await
        .expect("the IdP answers")
        .text()
        .await
        .expect("a page")
}

/// Fills in the IdP's sign-in page (`page` is its HTML, fetched by this same `client`) and
/// submits it.
pub async fn submit_idp_login(
    client: &reqwest::Client,
    idp: &str,
    page: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let form = [
        ("r", hidden(page, "r")),
        ("csrf", hidden(page, "csrf")),
        ("username", username.to_owned()),
        ("password", password.to_owned()),
    ];
    client
        .post(format!("{idp}/login"))
        .form(&form)
        .send()
        .await
        .expect("the IdP answers")
}

/// Runs `work` for at most `turns` turns of the runtime and then drops it, as a server drops a
/// handler whose client went away; true when it finished first. Sweeping `turns` from 0 upward
/// cuts the work off at each of its awaits in turn.
pub async fn cut_off_after<F: Future>(turns: usize, work: F) -> bool {
    let mut work = std::pin::pin!(work);
    for _ in 0..turns {
        let done =
            std::future::poll_fn(|cx| std::task::Poll::Ready(work.as_mut().poll(cx).is_ready()))
                .await;
        if done {
            return true;
        }
        tokio::task::yield_now().await;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn eventually_returns_once_the_probe_answers() {
        let mut n = 0;
        let got = eventually("three tries", Duration::from_secs(5), || {
            n += 1;
            let now = n;
            async move {
                if now >= 3 {
                    Ok(now)
                } else {
                    Err(format!("{now}"))
                }
            }
        })
        .await;
        assert_eq!(got, 3);
    }

    #[test]
    fn hidden_fields_and_urls() {
        assert_eq!(hidden(r#"<input name="r" value="abc">"#, "r"), "abc");
        assert_eq!(urlencode("a b/ü"), "a%20b%2F%C3%BC");
        assert_ne!(unique(), unique());
    }
}
