//! Text output of `status`, `prune` and `delete`, in the spirit of `hf cache scan`.

use std::fmt::Write;
use std::time::SystemTime;

use hubfetch::{CacheInfo, PruneReport};

/// `1.2G`, `340.5M`, `12.0K`, `17` (decimal units, like `hf cache scan`).
pub fn size(b: u64) -> String {
    let b = b as f64;
    for (unit, div) in [("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)] {
        if b >= div {
            return format!("{:.1}{unit}", b / div);
        }
    }
    format!("{b:.0}")
}

/// `3 hours ago`.
pub fn ago(t: Option<SystemTime>) -> String {
    let Some(s) = t.and_then(|t| SystemTime::now().duration_since(t).ok()) else {
        return "-".into();
    };
    let s = s.as_secs();
    let (n, unit) = match s {
        0..=59 => (s, "second"),
        60..=3599 => (s / 60, "minute"),
        3600..=86_399 => (s / 3600, "hour"),
        86_400..=2_591_999 => (s / 86_400, "day"),
        _ => (s / 2_592_000, "month"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| format!("{s:<w$}", w = widths[c]))
            .collect();
        let _ = writeln!(out, "{}", line.join(" ").trim_end());
        if i == 0 {
            let dash: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            let _ = writeln!(out, "{}", dash.join(" "));
        }
    }
    out
}

/// The `status` table: one line per repo (per revision with `verbose`), then partials.
pub fn status_table(info: &CacheInfo, verbose: bool) -> String {
    let mut rows = vec![if verbose {
        [
            "REPO ID",
            "REVISION",
            "SIZE ON DISK",
            "NB FILES",
            "LAST_MODIFIED",
            "REFS",
            "LOCAL PATH",
        ]
    } else {
        [
            "REPO ID",
            "REPO TYPE",
            "SIZE ON DISK",
            "NB FILES",
            "LAST_MODIFIED",
            "REFS",
            "LOCAL PATH",
        ]
    }
    .map(String::from)
    .to_vec()];
    for r in &info.repos {
        if verbose {
            for rev in &r.revisions {
                let p = r.path.join("snapshots").join(&rev.commit);
                rows.push(vec![
                    r.repo_id.clone(),
                    rev.commit.clone(),
                    size(rev.size_on_disk),
                    rev.files.len().to_string(),
                    ago(rev.last_modified),
                    rev.refs.join(", "),
                    p.display().to_string(),
                ]);
            }
        } else {
            let mut refs: Vec<String> = r.revisions.iter().flat_map(|v| v.refs.clone()).collect();
            refs.sort();
            rows.push(vec![
                r.repo_id.clone(),
                r.repo_type.clone(),
                size(r.size_on_disk),
                r.nb_files.to_string(),
                ago(r.last_modified),
                refs.join(", "),
                r.path.display().to_string(),
            ]);
        }
    }
    let mut out = table(&rows);
    let partials: Vec<_> = info
        .repos
        .iter()
        .flat_map(|r| r.partials.iter().map(move |p| (r, p)))
        .collect();
    if !partials.is_empty() {
        let mut rows = vec![[
            "REPO ID",
            "FILE",
            "VERIFIED",
            "ON DISK",
            "LAST WRITTEN",
            "STATE",
        ]
        .map(String::from)
        .to_vec()];
        for (r, p) in &partials {
            let verified = match p.size {
                Some(s) if s > 0 => format!(
                    "{} of {} ({:.0}%)",
                    size(p.bytes_verified),
                    size(s),
                    p.bytes_verified as f64 * 100.0 / s as f64
                ),
                _ => "-".into(),
            };
            let state = if p.active {
                "downloading now".to_string()
            } else {
                match &p.abandoned {
                    Some(why) => format!("abandoned: {why}"),
                    None => "resumable".to_string(),
                }
            };
            rows.push(vec![
                r.repo_id.clone(),
                p.path
                    .clone()
                    .unwrap_or_else(|| format!("({:?} {})", p.kind, p.etag)),
                verified,
                size(p.size_on_disk),
                ago(p.last_modified),
                state,
            ]);
        }
        out.push('\n');
        out.push_str(&table(&rows));
    }
    let unref: usize = info.repos.iter().map(|r| r.unreferenced.len()).sum();
    let _ = writeln!(
        out,
        "\nScanned {} repo(s) for a total of {}.{}",
        info.repos.len(),
        size(info.size_on_disk),
        if unref > 0 {
            format!(" {unref} blob(s) no snapshot links to (`hubfetch prune` deletes them).")
        } else {
            String::new()
        }
    );
    for w in &info.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

/// What `prune`/`delete` did (or would do).
pub fn report_text(r: &PruneReport) -> String {
    let mut out = String::new();
    let verb = if r.dry_run { "would delete" } else { "deleted" };
    for (p, why) in &r.removed {
        let _ = writeln!(out, "{verb} {} ({why})", p.display());
    }
    let _ = writeln!(
        out,
        "{} {} item(s), {} freed{}",
        if r.dry_run { "Would delete" } else { "Deleted" },
        r.removed.len(),
        size(r.freed),
        if r.dry_run {
            " (dry run: nothing deleted)"
        } else {
            ""
        }
    );
    out
}
