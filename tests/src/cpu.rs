//! What a process (and the processes it started) costs, read from /proc, and pinning them to
//! cores, for the benchmark harnesses.

use std::collections::HashMap;

/// User + system CPU seconds of one process, all its threads.
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_fields(pid)
        .map(|fields| {
            let ticks = |i: usize| {
                fields
                    .get(i)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            // utime, stime, and the time of children that ended (cutime, cstime): a server's
            // short-lived workers count too.
            (ticks(11) + ticks(12) + ticks(13) + ticks(14)) / 100.0
        })
        .unwrap_or(0.0)
}

/// CPU seconds of `root` and every process below it (PostgreSQL's backends, say).
pub fn tree_cpu_seconds(root: u32) -> f64 {
    tree(root).into_iter().map(cpu_seconds).sum()
}

/// Pins `root` and every process below it (and what they start later) to `cores`, e.g. "1".
pub fn pin_tree(root: u32, cores: &str) {
    for pid in tree(root) {
        let _ = std::process::Command::new("taskset")
            .args(["-a", "-pc", cores, &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .status();
    }
}

/// Resident set of one process in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The fields of /proc/PID/stat after the command name (field 3 on), which may hold spaces.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit(')').next()?;
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(parent) = stat_fields(pid)
                .and_then(|f| f.get(1).cloned())
                .and_then(|p| p.parse::<u32>().ok())
            {
                children.entry(parent).or_default().push(pid);
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        if let Some(kids) = children.get(&found[i]) {
            found.extend(kids);
        }
        i += 1;
    }
    found
}
