//! The state behind a `#[lua_device]` impl, shared by concurrent commands.

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A device's state: `&self` handlers run concurrently under a read lock, `&mut self` handlers
/// one at a time under the write lock. Generated code picks the lock from each method's
/// receiver, so a device that never mutates never waits.
#[derive(Debug, Default)]
pub struct Shared<T> {
    state: RwLock<T>,
}

impl<T> Shared<T> {
    /// Wrap a device's state.
    pub fn new(state: T) -> Self {
        Self {
            state: RwLock::new(state),
        }
    }

    /// For a `&self` handler.
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        self.state.read().await
    }

    /// For a `&mut self` handler.
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.state.write().await
    }
}
