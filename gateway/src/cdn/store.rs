//! Where uploads live: one file per upload in a folder, their media types in memory, and the
//! byte budget they share.
//!
//! An upload is written to a hidden `.partial-*` file and renamed to its id only once the whole
//! body has arrived, so a reader never sees half a file; a [`Partial`] dropped before
//! [`Partial::finish`] (a client that went away, a body over the cap, a timeout) deletes its
//! file and gives its bytes back to the budget.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;

/// A stored file's facts, as `GET /{fileId}` serves them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The part's content type, as given at upload.
    pub media_type: String,
    /// Length in bytes.
    pub size: u64,
}

/// The folder of uploads and its index.
pub(crate) struct Store {
    dir: PathBuf,
    /// A folder the store made itself is removed with it.
    owned: bool,
    files: Mutex<HashMap<String, Stored>>,
    /// Bytes stored or being written, against `max_total`.
    used: AtomicU64,
    max_total: u64,
}

/// Why a write stopped.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The store's total budget is spent.
    Full,
    /// The disk said no.
    Io(io::Error),
}

impl Store {
    /// A store in `dir` (created if missing), or in a fresh temporary folder removed on drop.
    pub(crate) fn open(dir: Option<&Path>, max_total: u64) -> io::Result<Self> {
        let (dir, owned) = match dir {
            Some(dir) => (dir.to_path_buf(), false),
            None => (
                std::env::temp_dir().join(format!("luagen-cdn-{}", random_hex(8)?)),
                true,
            ),
        };
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            owned,
            files: Mutex::new(HashMap::new()),
            used: AtomicU64::new(0),
            max_total,
        })
    }

    /// The folder the files are in.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The facts and path of a stored file. Only ids the store made are ever looked up on
    /// disk, so no request names a path.
    pub(crate) fn get(&self, id: &str) -> Option<(Stored, PathBuf)> {
        let stored = self.files.lock().expect("cdn index").get(id).cloned()?;
        Some((stored, self.dir.join(id)))
    }

    #[cfg(test)]
    /// How many files are stored.
    pub(crate) fn len(&self) -> usize {
        self.files.lock().expect("cdn index").len()
    }

    /// Start writing a new upload.
    pub(crate) async fn begin(self: &Arc<Self>) -> io::Result<Partial> {
        let path = self.dir.join(format!(".partial-{}", random_hex(16)?));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok(Partial {
            store: Arc::clone(self),
            path: Some(path),
            file: Some(file),
            reserved: 0,
        })
    }

    fn reserve(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|t| *t <= self.max_total)
            })
            .is_ok()
    }

    fn release(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// An upload being written; deleted unless finished.
pub(crate) struct Partial {
    store: Arc<Store>,
    path: Option<PathBuf>,
    file: Option<tokio::fs::File>,
    reserved: u64,
}

impl Partial {
    /// Bytes written so far.
    pub(crate) fn len(&self) -> u64 {
        self.reserved
    }

    /// Append a chunk, within the store's total budget.
    pub(crate) async fn write(&mut self, chunk: &[u8]) -> Result<(), WriteError> {
        let n = chunk.len() as u64;
        if !self.store.reserve(n) {
            return Err(WriteError::Full);
        }
        self.reserved += n;
        let file = self.file.as_mut().expect("open until finished");
        file.write_all(chunk).await.map_err(WriteError::Io)
    }

    /// Flush, name the file `id` and list it.
    pub(crate) async fn finish(mut self, id: &str, media_type: String) -> io::Result<Stored> {
        let mut file = self.file.take().expect("open until finished");
        file.flush().await?;
        file.sync_data().await?;
        drop(file);
        let from = self.path.as_ref().expect("present until finished");
        tokio::fs::rename(from, self.store.dir.join(id)).await?;
        self.path = None;
        let stored = Stored {
            media_type,
            size: self.reserved,
        };
        self.store
            .files
            .lock()
            .expect("cdn index")
            .insert(id.to_string(), stored.clone());
        // The bytes stay counted: they are stored now.
        self.reserved = 0;
        Ok(stored)
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        drop(self.file.take());
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
        self.store.release(self.reserved);
    }
}

/// `bytes` random bytes from the operating system, as lowercase hex.
pub(crate) fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).map_err(io::Error::other)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unfinished_upload_leaves_nothing_and_gives_its_bytes_back() {
        let store = Arc::new(Store::open(None, 10).unwrap());
        let dir = store.dir().to_path_buf();
        let mut partial = store.begin().await.unwrap();
        partial.write(b"12345678").await.unwrap();
        assert!(matches!(partial.write(b"abc").await, Err(WriteError::Full)));
        drop(partial);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        assert_eq!(store.len(), 0);

        let mut partial = store.begin().await.unwrap();
        partial.write(b"0123456789").await.unwrap();
        let stored = partial
            .finish("abc.txt", "text/plain".into())
            .await
            .unwrap();
        assert_eq!(stored.size, 10);
        let (_, path) = store.get("abc.txt").unwrap();
        assert_eq!(std::fs::read(path).unwrap(), b"0123456789");
        assert!(store.get("../abc.txt").is_none());
        drop(store);
        assert!(!dir.exists(), "a temporary store is removed with it");
    }
}
