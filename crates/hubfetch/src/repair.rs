//! Repair after a whole-file mismatch: local first, then majority votes over fresh copies,
//! with its progress in the journal so that a relaunch continues it.
//!
//! 1. **Local** (free): every chunk on disk is re-hashed against the SHA-256 the journal
//!    recorded of its network bytes. A chunk that differs was damaged on disk (torn write,
//!    bit rot): it is fetched again first, and its fresh copy agreeing with the journal makes
//!    two agreeing copies.
//! 2. **Votes**: the other chunks are fetched again, the most suspect first (retries, drops,
//!    refreshes while they came in, remembered in the journal), then in file order. A fresh
//!    copy that agrees with the one on disk confirms the chunk. Two copies that disagree get a
//!    third, and so on, until one version has two votes; that version is on disk (the last
//!    copy fetched makes the pair).
//! 3. **Check**: after a batch that changed bytes on disk, the whole-file hash is computed
//!    again from the saved hash state at the first changed chunk (local work, bounded to a few
//!    times the file); when it matches, the repair ends. The Hub's SHA-256 is the final judge.
//! 4. Only when **every** chunk is confirmed by agreeing copies and the hash still fails is the
//!    server's file called damaged. Copies that keep disagreeing are a link problem
//!    ([`Error::Network`]), never an accusation of the server.
//!
//! The journal's [`RepairState`] records the confirmed chunks and the copies seen of chunks
//! under a vote, saved after every copy: a relaunch skips what is confirmed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::chunk::{run_chunks, Fail, FileJob, Shared};
use crate::error::{Error, NetError, Result};
use crate::journal::{chunk_range, Journal, RepairState};
use crate::progress::{ChunkState, Phase};
use crate::sha::Sha256;
use crate::verify::{self, Expected, Snapshots, Whole};

/// Copies of one chunk fetched before the link is declared too corrupt to repair.
pub(crate) const MAX_COPIES: usize = 7;

/// Local re-hashing during a repair may read at most this many times the file.
const REHASH_BUDGET: u64 = 4;

/// Record a finished chunk's faults: the chunk itself (weighted), and the chunk the same
/// connection finished just before it (its bytes came over a link that then failed).
pub(crate) fn note_faults(
    suspicion: &mut BTreeMap<u64, u32>,
    idx: u64,
    faults: u32,
    prev: Option<u64>,
) {
    if faults == 0 {
        return;
    }
    *suspicion.entry(idx).or_default() += 2 * faults;
    if let Some(p) = prev {
        *suspicion.entry(p).or_default() += 1;
    }
}

/// The order in which a repair fetches chunks again: the most suspect first (ties by index),
/// then every other chunk in file order. Each chunk appears exactly once.
pub(crate) fn repair_order(count: u64, suspicion: &BTreeMap<u64, u32>) -> Vec<u64> {
    let mut suspects: Vec<(u64, u32)> = suspicion
        .iter()
        .filter(|(i, s)| **i < count && **s > 0)
        .map(|(i, s)| (*i, *s))
        .collect();
    suspects.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut order: Vec<u64> = suspects.iter().map(|(i, _)| *i).collect();
    order.extend((0..count).filter(|i| suspicion.get(i).is_none_or(|s| *s == 0)));
    order
}

/// What one more copy of a chunk decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Vote {
    /// Two copies agree: this version (now on disk) is kept.
    Confirmed,
    /// No version has two votes yet: fetch another copy.
    Again,
    /// [`MAX_COPIES`] copies and still no two alike.
    Hopeless,
}

/// Add a copy (`sha`) of chunk `idx` to its vote; `first` is the version the vote starts
/// from (the copy the failed whole-file check saw) when the vote is new.
pub(crate) fn record_copy(st: &mut RepairState, idx: u64, first: &str, sha: &str) -> Vote {
    let v = st
        .votes
        .entry(idx)
        .or_insert_with(|| vec![first.to_string()]);
    v.push(sha.to_string());
    if v.iter().filter(|s| *s == sha).count() >= 2 {
        st.votes.remove(&idx);
        st.confirmed.insert(idx, sha.to_string());
        Vote::Confirmed
    } else if v.len() >= MAX_COPIES {
        Vote::Hopeless
    } else {
        Vote::Again
    }
}

/// Bring a repair state from an earlier run in line with the journal: a chunk fetched again
/// since (its bytes were damaged on disk) keeps its confirmation only when the new copy is
/// the confirmed version, and a new copy of a chunk under vote is one more vote.
pub(crate) fn reconcile(st: &mut RepairState, chunks: &BTreeMap<u64, String>) {
    st.confirmed
        .retain(|i, sha| chunks.get(i).is_some_and(|now| now == sha));
    let mut decided = Vec::new();
    for (i, v) in st.votes.iter_mut() {
        match chunks.get(i) {
            Some(now) if v.last() != Some(now) => {
                v.push(now.clone());
                if v.iter().filter(|s| *s == now).count() >= 2 {
                    decided.push((*i, now.clone()));
                }
            }
            Some(_) => {}
            None => v.clear(),
        }
    }
    st.votes.retain(|_, v| !v.is_empty());
    for (i, sha) in decided {
        st.votes.remove(&i);
        st.confirmed.insert(i, sha);
    }
}

/// Local phase (blocking): the journalled chunks whose bytes on disk no longer match the
/// SHA-256 recorded of their network copy.
pub(crate) fn disk_mismatches(path: &Path, j: &Journal) -> Result<Vec<u64>> {
    let f = File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut bad = Vec::new();
    for (&idx, want) in &j.chunks {
        let (s, e) = j.chunk_range(idx);
        let mut h = Sha256::new();
        let mut off = s;
        let mut ok = true;
        while off < e {
            let n = ((e - off) as usize).min(buf.len());
            if crate::chunk::read_at(&f, &mut buf[..n], off).is_err() {
                ok = false;
                break;
            }
            h.update(&buf[..n]);
            off += n as u64;
        }
        if !ok || h.finish_hex() != *want {
            bad.push(idx);
        }
    }
    Ok(bad)
}

/// The local re-hash's verdict joins the repair: a damaged chunk not fetched again yet loses
/// any confirmation and goes to the front of the queue; one fetched again meanwhile already
/// has fresh bytes on disk, which the next whole-file check must include.
fn take_local_verdict(
    bad: &[u64],
    fetched: &BTreeSet<u64>,
    disk: &mut BTreeMap<u64, String>,
    journal: &mut Journal,
    queue: &mut VecDeque<u64>,
    dirty_from: &mut Option<u64>,
) {
    tracing::info!(damaged_on_disk = bad.len(), "local re-hash done");
    for b in bad.iter().rev() {
        if fetched.contains(b) {
            *dirty_from = Some(dirty_from.map_or(*b, |d| d.min(*b)));
            continue;
        }
        disk.insert(*b, String::new());
        journal.repair.confirmed.remove(b);
        queue.retain(|q| q != b);
        queue.push_front(*b);
    }
}

/// What a repair works on.
pub(crate) struct Ctx<'a> {
    pub sh: &'a Arc<Shared>,
    pub fj: &'a Arc<FileJob>,
    pub jpath: &'a Path,
    pub inc: &'a Path,
    pub exp: &'a Expected,
    /// Whole-file hash states at chunk starts, from the in-order hasher.
    pub snapshots: &'a Snapshots,
}

/// Repair a complete partial file whose whole-file hash failed; Ok once it matches.
pub(crate) async fn repair(cx: Ctx<'_>, journal: &mut Journal) -> Result<(), Fail> {
    let (sh, fj) = (cx.sh, cx.fj);
    let (size, cs, fidx) = (fj.size, fj.chunk_size, fj.fidx);
    let tracker = &sh.tracker;
    // The file must still be the one the Hub serves at the pinned commit.
    fj.resolve_unchanged(sh).await?;
    tracker.set_file_phase(fidx, Phase::Repairing);
    tracker.set_phase(Phase::Repairing);

    reconcile(&mut journal.repair, &journal.chunks);
    // 1. Local: chunks damaged on disk since their network bytes were hashed. It runs on its
    // own thread while the first fresh copies come in (it is a whole-file read and hash:
    // seconds for a GB that the link need not sit idle for); its verdict joins the queue
    // after the batch during which it ended.
    let (incp, j2) = (cx.inc.to_path_buf(), journal.clone());
    let mut local = Some(tokio::task::spawn_blocking(move || {
        disk_mismatches(&incp, &j2)
    }));
    // What each chunk on disk hashes to, as far as we know ("" = damaged, unknown).
    let mut disk: BTreeMap<u64, String> = journal.chunks.clone();
    let count = journal.chunk_count();
    tracing::warn!(
        file = %fj.path,
        confirmed_before = journal.repair.confirmed.len(),
        under_vote = journal.repair.votes.len(),
        "whole-file hash mismatch: repairing (local re-hash and fresh copies)"
    );

    // 2. The queue: votes under way, chunks damaged on disk, then suspects and the rest.
    let mut queue: VecDeque<u64> = VecDeque::new();
    let mut seen = BTreeSet::new();
    let first = journal.repair.votes.keys().copied().collect::<Vec<_>>();
    let order = repair_order(count, &journal.suspicion);
    for i in first.into_iter().chain(order) {
        if i < count && !journal.repair.confirmed.contains_key(&i) && seen.insert(i) {
            queue.push_back(i);
        }
    }
    for c in journal.repair.confirmed.keys() {
        tracker.set_chunk(fidx, *c, ChunkState::Verified);
    }
    // One chunk per connection the link gets now: a batch is what is fetched before the next
    // check, so a weak link (few connections) overshoots the bad chunk by little.
    let batch = || {
        sh.limiter
            .allowed
            .load(Ordering::Relaxed)
            .clamp(1, sh.limiter.max.max(1))
    };
    let mut snaps = cx.snapshots.clone();
    let mut dirty_from: Option<u64> = None;
    let mut hashed = 0u64;
    // Chunks fetched again by this repair (their bytes on disk are a fresh copy now).
    let mut fetched = BTreeSet::new();
    loop {
        if local
            .as_ref()
            .is_some_and(|t| t.is_finished() || queue.is_empty())
        {
            if let Some(t) = local.take() {
                let bad = t.await.map_err(Error::task("rehash task"))??;
                take_local_verdict(
                    &bad,
                    &fetched,
                    &mut disk,
                    journal,
                    &mut queue,
                    &mut dirty_from,
                );
                if !bad.is_empty() {
                    journal.save(cx.jpath)?;
                }
            }
        }
        if queue.is_empty() {
            break;
        }
        let ids: Vec<u64> = (0..batch()).filter_map(|_| queue.pop_front()).collect();
        fetched.extend(ids.iter().copied());
        for i in &ids {
            let (s, e) = chunk_range(size, cs, *i);
            let b = &fj.bytes;
            b.fetch_sub((e - s).min(b.load(Ordering::Relaxed)), Ordering::Relaxed);
            tracker.set_chunk(fidx, *i, ChunkState::Pending);
        }
        let mut again = Vec::new();
        let mut hopeless = None;
        run_chunks(sh, fj, ids.clone(), |idx, done, _| {
            let sha = done.sha;
            if disk.get(&idx) != Some(&sha) {
                dirty_from = Some(dirty_from.map_or(idx, |d| d.min(idx)));
                disk.insert(idx, sha.clone());
            }
            let start_copy = journal.chunks.get(&idx).cloned().unwrap_or_default();
            journal.chunks.insert(idx, sha.clone());
            match record_copy(&mut journal.repair, idx, &start_copy, &sha) {
                Vote::Confirmed => tracker.set_chunk(fidx, idx, ChunkState::Verified),
                Vote::Again => {
                    tracing::warn!(file = %fj.path, chunk = idx, "two copies of a chunk disagree: fetching another");
                    again.push(idx);
                }
                Vote::Hopeless => hopeless = Some(idx),
            }
            journal.save(cx.jpath)?;
            Ok(())
        })
        .await?;
        if let Some(idx) = hopeless {
            let (s, e) = chunk_range(size, cs, idx);
            return Err(Fail::Err(Error::Network {
                what: format!("{}: bytes {s}-{}", fj.path, e.saturating_sub(1)),
                retries: MAX_COPIES as u32,
                cause: NetError::Transfer(format!(
                    "{MAX_COPIES} copies all differ: the connection corrupts data; try another network"
                )),
            }));
        }
        for i in again.into_iter().rev() {
            queue.push_front(i);
        }
        // 3. Check, when bytes changed and the local budget allows (always at the end).
        if let Some(from) = dirty_from {
            let from_off = chunk_range(size, cs, from).0;
            let cost = size - from_off;
            if (queue.is_empty() && local.is_none()) || hashed + cost <= REHASH_BUDGET * size {
                hashed += cost;
                dirty_from = None;
                if whole_ok(&cx, &mut snaps, from).await? {
                    tracing::info!(file = %fj.path, "repaired: the whole file matches its hash");
                    journal.repair = RepairState::default();
                    return Ok(());
                }
            }
        }
    }
    if let Some(from) = dirty_from {
        if whole_ok(&cx, &mut snaps, from).await? {
            journal.repair = RepairState::default();
            return Ok(());
        }
    }
    Err(Fail::Err(Error::Corrupt(format!(
        "{}: every chunk was fetched again and two copies agree on each, yet the file does not match the Hub's hash {}; the file on the server is damaged. Partial data kept in {}",
        fj.path,
        cx.exp.hex().unwrap_or("?"),
        cx.inc.display()
    ))))
}

/// Does the file on disk match now? Hashes from the saved state at or before chunk `from`
/// and refreshes the saved states of every later chunk (so the next check can start at the
/// next changed chunk).
async fn whole_ok(cx: &Ctx<'_>, snaps: &mut Snapshots, from: u64) -> Result<bool> {
    let (size, cs) = (cx.fj.size, cx.fj.chunk_size);
    let incp: PathBuf = cx.inc.to_path_buf();
    let e2 = cx.exp.clone();
    let mut owned = std::mem::take(snaps);
    let (d, owned) = tokio::task::spawn_blocking(move || {
        let d = rehash_refresh(&incp, &mut owned, &e2, size, cs, from);
        (d, owned)
    })
    .await
    .map_err(Error::task("hash task"))?;
    *snaps = owned;
    Ok(verify::digest_ok(cx.exp, &d?))
}

/// Hash `path` from the saved state at or before chunk `from` (from the start without one),
/// saving the state at the start of every chunk on the way (blocking).
fn rehash_refresh(
    path: &Path,
    snaps: &mut Snapshots,
    exp: &Expected,
    size: u64,
    cs: u64,
    from: u64,
) -> Result<String> {
    let (first, mut w) = match snaps.range(..=from).next_back() {
        Some((c, w)) => (*c, w.clone()),
        None => (0, Whole::new(exp, size)),
    };
    let f = File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    let mut buf = vec![0u8; 1 << 20];
    for c in first..crate::journal::chunk_count(size, cs) {
        snaps.insert(c, w.clone());
        let (s, e) = chunk_range(size, cs, c);
        let mut off = s;
        while off < e {
            let n = ((e - off) as usize).min(buf.len());
            crate::chunk::read_at(&f, &mut buf[..n], off)
                .map_err(|er| Error::io(format!("read {}", path.display()), er))?;
            w.update(&buf[..n]);
            off += n as u64;
        }
    }
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repair_order_puts_suspects_first_and_covers_every_chunk_once() {
        let mut s = BTreeMap::new();
        note_faults(&mut s, 7, 1, Some(3)); // 7 retried once; 3 came over that connection before
        note_faults(&mut s, 5, 3, None); // 5 retried three times
        note_faults(&mut s, 2, 0, Some(1)); // no faults: nothing recorded
        note_faults(&mut s, 99, 1, None); // beyond the file: ignored
        let order = repair_order(10, &s);
        assert_eq!(order, vec![5, 7, 3, 0, 1, 2, 4, 6, 8, 9]);
        assert_eq!(repair_order(4, &BTreeMap::new()), vec![0, 1, 2, 3]);
    }

    #[test]
    fn majority_vote_needs_two_agreeing_copies() {
        let mut st = RepairState::default();
        // The fresh copy agrees with the one on disk: confirmed at once.
        assert_eq!(record_copy(&mut st, 0, "a", "a"), Vote::Confirmed);
        // Disk "b" (corrupt), fresh "a": a third copy decides.
        assert_eq!(record_copy(&mut st, 1, "b", "a"), Vote::Again);
        assert_eq!(st.votes[&1], vec!["b".to_string(), "a".to_string()]);
        assert_eq!(record_copy(&mut st, 1, "ignored", "a"), Vote::Confirmed);
        // The fresh copy was the corrupt one: the third agrees with the first.
        assert_eq!(record_copy(&mut st, 2, "a", "x"), Vote::Again);
        assert_eq!(record_copy(&mut st, 2, "", "a"), Vote::Confirmed);
        assert_eq!(
            st.confirmed.keys().copied().collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(st.confirmed[&2], "a");
        assert!(st.votes.is_empty());
        // No two alike: hopeless after MAX_COPIES copies, never "confirmed".
        let mut v = Vote::Again;
        for k in 1..MAX_COPIES {
            v = record_copy(&mut st, 3, "c0", &format!("c{k}"));
        }
        assert_eq!(v, Vote::Hopeless);
        assert!(!st.confirmed.contains_key(&3));
    }

    #[test]
    fn a_relaunch_keeps_only_confirmations_that_match_the_disk() {
        let mut st = RepairState::default();
        st.confirmed.insert(0, "a".into());
        st.confirmed.insert(1, "b".into());
        st.votes.insert(2, vec!["x".into(), "y".into()]);
        st.votes.insert(3, vec!["p".into(), "q".into()]);
        st.votes.insert(4, vec!["m".into(), "n".into()]);
        let chunks: BTreeMap<u64, String> = [
            (0, "a"), // unchanged: still confirmed
            (1, "c"), // fetched again after disk damage, another version: not confirmed
            (2, "x"), // a new copy agreeing with the first: decided
            (3, "q"), // unchanged under vote
        ]
        .into_iter()
        .map(|(i, s)| (i, s.to_string()))
        .collect(); // 4 is no longer journalled: its vote is dropped
        reconcile(&mut st, &chunks);
        assert_eq!(st.confirmed.keys().copied().collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(st.confirmed[&2], "x");
        assert_eq!(st.votes.keys().copied().collect::<Vec<_>>(), vec![3]);
        assert_eq!(st.votes[&3].len(), 2);
    }

    #[test]
    fn a_check_after_two_repairs_uses_fresh_hash_states() {
        // Chunks 2 and 7 of 10 arrived corrupt; the saved states are of that first pass.
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        let good: Vec<u8> = (0..100u32).map(|i| (i * 13 + 1) as u8).collect();
        let mut bad = good.clone();
        bad[25] ^= 1;
        bad[71] ^= 1;
        let exp = Expected::Sha256(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&good)));
        let mut snaps = Snapshots::new();
        let mut w = Whole::new(&exp, 100);
        for c in 0..10u64 {
            snaps.insert(c, w.clone());
            w.update(&bad[(c * 10) as usize..(c * 10 + 10) as usize]);
        }
        let mut disk = bad.clone();
        disk[25] ^= 1; // chunk 2 repaired
        std::fs::write(&p, &disk).expect("write");
        let d = rehash_refresh(&p, &mut snaps, &exp, 100, 10, 2).expect("hash");
        assert_ne!(Some(d.as_str()), exp.hex(), "chunk 7 is still bad");
        disk[71] ^= 1; // chunk 7 repaired: the state at 7 must include the repaired chunk 2
        std::fs::write(&p, &disk).expect("write");
        let d = rehash_refresh(&p, &mut snaps, &exp, 100, 10, 7).expect("hash");
        assert_eq!(Some(d.as_str()), exp.hex());
    }

    #[test]
    fn local_phase_finds_chunks_damaged_on_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..100u32).map(|i| (i * 7) as u8).collect();
        std::fs::write(&p, &data).expect("write");
        let mut j = Journal::new("e", 100, 30, "o/r", "f", "c");
        for i in 0..j.chunk_count() {
            let (s, e) = j.chunk_range(i);
            let mut h = Sha256::new();
            h.update(&data[s as usize..e as usize]);
            j.chunks.insert(i, h.finish_hex());
        }
        assert_eq!(disk_mismatches(&p, &j).expect("rehash"), Vec::<u64>::new());
        let mut bad = data.clone();
        bad[65] ^= 1;
        std::fs::write(&p, &bad).expect("write");
        assert_eq!(disk_mismatches(&p, &j).expect("rehash"), vec![2]);
    }
}
