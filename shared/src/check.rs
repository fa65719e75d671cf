//! `check-config` for both binaries: every check named with what it found, and every problem
//! printed, without starting the service.

/// One check: what was checked, and what it found or why it failed.
pub type Finding = (String, Result<String, String>);

/// Prints the findings; an error naming how many failed when any did.
pub fn report(findings: &[Finding]) -> anyhow::Result<()> {
    let mut problems = 0;
    for (what, found) in findings {
        match found {
            Ok(detail) => println!("ok       {what}: {detail}"),
            Err(problem) => {
                problems += 1;
                println!("PROBLEM  {what}: {problem}");
            }
        }
    }
    anyhow::ensure!(problems == 0, "{problems} problem(s) in the configuration");
    Ok(())
}

/// Runs a check and turns its error into a finding.
pub async fn check<F, T>(what: impl Into<String>, f: F) -> Finding
where
    F: std::future::Future<Output = anyhow::Result<T>>,
    T: std::fmt::Display,
{
    (
        what.into(),
        f.await.map(|v| v.to_string()).map_err(|e| format!("{e:#}")),
    )
}
