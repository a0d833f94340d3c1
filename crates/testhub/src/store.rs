//! The repositories being served: branches, commits (snapshots of file tables) and the blob store.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;

use crate::content::{self, FileContent};
use crate::error::TestHubError;

/// One file of a repository, as given to `TestHub::start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    /// Path inside the repo, `/`-separated (e.g. `"model.safetensors"`, `"sub/dir/x.json"`).
    pub path: String,
    /// The bytes.
    pub content: FileContent,
    /// Stored with LFS (served by 302 to the CDN)? `None` = auto: files > 1 MiB or `*.safetensors`.
    pub lfs: Option<bool>,
}

impl RepoFile {
    /// A file with automatic LFS choice.
    pub fn new(path: impl Into<String>, content: FileContent) -> Self {
        RepoFile {
            path: path.into(),
            content,
            lfs: None,
        }
    }
}

/// A model repository served by the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// `org/name`.
    pub id: String,
    /// The branch the files are on, e.g. `"main"`.
    pub revision: String,
    /// Its files.
    pub files: Vec<RepoFile>,
    /// Gated: a valid token whose user accepted the terms is needed (401 without token, 403 without acceptance).
    pub gated: bool,
    /// Private: a valid token is needed (401 otherwise).
    pub private: bool,
}

impl Repo {
    /// A public, non-gated repo on `main`.
    pub fn new(id: impl Into<String>, files: Vec<RepoFile>) -> Self {
        Repo {
            id: id.into(),
            revision: "main".into(),
            files,
            gated: false,
            private: false,
        }
    }
}

/// A file with its hashes, as served.
#[derive(Debug)]
pub(crate) struct Entry {
    pub path: String,
    pub content: FileContent,
    /// Shared bytes for in-memory contents (no copy per response).
    pub shared: Option<Bytes>,
    pub size: u64,
    pub lfs: bool,
    pub sha256: String,
    /// Git blob id: sha1 of the content (non-LFS) or of the LFS pointer (LFS).
    pub blob_id: String,
}

impl Entry {
    /// Hash a file (blocking).
    pub fn build(
        path: &str,
        content: FileContent,
        lfs: Option<bool>,
    ) -> Result<Self, TestHubError> {
        if path.is_empty()
            || path.starts_with('/')
            || path.split('/').any(|s| s.is_empty() || s == "..")
        {
            return Err(TestHubError::InvalidRepo(format!("bad file path {path:?}")));
        }
        let size = content::content_size(&content)?;
        let lfs = lfs.unwrap_or_else(|| content::auto_lfs(path, size));
        let h = content::hash_content(&content, !lfs)?;
        let blob_id = match (&h.git_sha1, lfs) {
            (Some(sha1), false) => sha1.clone(),
            _ => content::git_blob_sha1(content::lfs_pointer(&h.sha256, h.size).as_bytes()),
        };
        let shared = match &content {
            FileContent::Bytes(b) => Some(Bytes::from(b.clone())),
            _ => None,
        };
        Ok(Entry {
            path: path.to_string(),
            content,
            shared,
            size: h.size,
            lfs,
            sha256: h.sha256,
            blob_id,
        })
    }

    /// A servable entry for bytes whose name is already their hash (a xorb): no hashing pass,
    /// `etag` stands in for the sha256 (the ETag of its answers).
    pub fn unhashed(path: &str, content: FileContent, size: u64, etag: String) -> Self {
        let shared = match &content {
            FileContent::Bytes(b) => Some(Bytes::from(b.clone())),
            _ => None,
        };
        Entry {
            path: path.to_string(),
            content,
            shared,
            size,
            lfs: true,
            sha256: etag,
            blob_id: String::new(),
        }
    }

    pub fn pointer_size(&self) -> usize {
        content::lfs_pointer(&self.sha256, self.size).len()
    }
}

/// The files of one commit.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub commit: String,
    pub files: BTreeMap<String, Arc<Entry>>,
}

impl Snapshot {
    fn new(repo_id: &str, files: BTreeMap<String, Arc<Entry>>) -> Self {
        let mut h = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
        h.update(format!("repo {repo_id}\n").as_bytes());
        for (path, e) in &files {
            h.update(format!("{path}\0{}\0{}\n", e.blob_id, e.lfs).as_bytes());
        }
        Snapshot {
            commit: hex::encode(h.finish()),
            files,
        }
    }
}

/// One repository with its history.
#[derive(Debug)]
pub(crate) struct RepoState {
    pub id: String,
    pub branch: String,
    pub gated: bool,
    pub private: bool,
    pub head: Arc<Snapshot>,
    pub commits: HashMap<String, Arc<Snapshot>>,
}

impl RepoState {
    /// The snapshot a revision names: the branch or a known commit sha.
    pub fn snapshot(&self, revision: &str) -> Option<Arc<Snapshot>> {
        if revision == self.branch {
            return Some(self.head.clone());
        }
        self.commits.get(revision).cloned()
    }
}

/// All repositories and the CDN's blobs (by sha256).
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub repos: HashMap<String, RepoState>,
    pub blobs: HashMap<String, Arc<Entry>>,
}

fn valid_repo_id(id: &str) -> bool {
    let mut parts = id.split('/');
    let ok = |s: Option<&str>| {
        s.is_some_and(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

impl Store {
    /// Build the store, hashing every file (blocking).
    pub fn build(repos: Vec<Repo>) -> Result<Self, TestHubError> {
        let mut store = Store::default();
        for repo in repos {
            if !valid_repo_id(&repo.id) {
                return Err(TestHubError::InvalidRepo(format!(
                    "repo id {:?} is not org/name",
                    repo.id
                )));
            }
            if store.repos.contains_key(&repo.id) {
                return Err(TestHubError::InvalidRepo(format!(
                    "duplicate repo {}",
                    repo.id
                )));
            }
            if repo.revision.is_empty() || repo.revision.contains('/') {
                return Err(TestHubError::InvalidRepo(format!(
                    "branch {:?} must be a plain name",
                    repo.revision
                )));
            }
            let mut files = BTreeMap::new();
            for f in repo.files {
                let e = Arc::new(Entry::build(&f.path, f.content, f.lfs)?);
                if files.insert(e.path.clone(), e).is_some() {
                    return Err(TestHubError::InvalidRepo(format!(
                        "duplicate file {}",
                        f.path
                    )));
                }
            }
            let snap = Arc::new(Snapshot::new(&repo.id, files));
            for e in snap.files.values() {
                store.blobs.insert(e.sha256.clone(), e.clone());
            }
            let mut commits = HashMap::new();
            commits.insert(snap.commit.clone(), snap.clone());
            store.repos.insert(
                repo.id.clone(),
                RepoState {
                    id: repo.id,
                    branch: repo.revision,
                    gated: repo.gated,
                    private: repo.private,
                    head: snap,
                    commits,
                },
            );
        }
        Ok(store)
    }

    /// Put `entry` at its path on the branch of `repo_id`: a new commit. Returns the old entry.
    pub fn replace(&mut self, repo_id: &str, entry: Entry, retire_old: bool) -> Option<Arc<Entry>> {
        let repo = self.repos.get_mut(repo_id)?;
        let mut files = repo.head.files.clone();
        let entry = Arc::new(entry);
        let old = files.insert(entry.path.clone(), entry.clone());
        let snap = Arc::new(Snapshot::new(&repo.id, files));
        repo.commits.insert(snap.commit.clone(), snap.clone());
        repo.head = snap;
        self.blobs.insert(entry.sha256.clone(), entry);
        if retire_old {
            if let Some(o) = &old {
                if o.sha256 != self.head_sha256(repo_id, &o.path).unwrap_or_default() {
                    self.blobs.remove(&o.sha256);
                }
            }
        }
        old
    }

    /// sha256 (hex) of `path` at the branch head of `repo_id`.
    pub(crate) fn head_sha256(&self, repo_id: &str, path: &str) -> Option<String> {
        Some(
            self.repos
                .get(repo_id)?
                .head
                .files
                .get(path)?
                .sha256
                .clone(),
        )
    }

    /// Repos and paths whose branch head serves the blob `sha256`.
    pub fn users_of(&self, sha256: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for r in self.repos.values() {
            for e in r.head.files.values() {
                if e.sha256 == sha256 {
                    out.push((r.id.clone(), e.path.clone()));
                }
            }
        }
        out
    }
}
