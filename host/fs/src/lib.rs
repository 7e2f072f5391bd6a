//! File-system plumbing every other host crate shares and that knows nothing of images,
//! buildpacks or the network: atomic writes, paths longer than `PATH_MAX`, per-directory
//! build locks, removal of temporary files on interrupt and of large trees on several threads,
//! the test fault points, and the one value that says where Kiln keeps its caches.

pub mod atomic_file;
pub mod cache_paths;
pub mod dir_lock;
pub mod fault;
pub mod interrupt;
pub mod long_path;
pub mod remove_tree;
pub mod retry;

pub use cache_paths::CachePaths;
pub use dir_lock::{DirLock, LockError};
