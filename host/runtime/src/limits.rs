//! Per-call resource limits: CPU time (epoch deadlines) and memory.

use std::time::Duration;

/// How often the epoch ticker advances; the CPU limit is counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Default CPU time limit for `detect`.
pub const DEFAULT_DETECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default CPU time limit for `build`.
pub const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_mins(15);

/// Default linear-memory limit per call.
pub const DEFAULT_MEMORY_LIMIT: usize = 2 << 30;

/// Cap on captured stdout+stderr bytes per call; the rest is dropped with a notice.
pub const DEFAULT_OUTPUT_LIMIT: usize = 1 << 20;

/// Limits applied to every buildpack call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time limit for `detect`.
    pub detect_timeout: Duration,
    /// Time limit for `build`.
    pub build_timeout: Duration,
    /// Memory limit in bytes.
    pub memory: usize,
    /// Captured output limit in bytes.
    pub output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            detect_timeout: DEFAULT_DETECT_TIMEOUT,
            build_timeout: DEFAULT_BUILD_TIMEOUT,
            memory: DEFAULT_MEMORY_LIMIT,
            output: DEFAULT_OUTPUT_LIMIT,
        }
    }
}

/// Number of epoch ticks for a timeout (at least one).
pub fn ticks(timeout: Duration) -> u64 {
    let ticks = timeout.as_millis() / EPOCH_TICK.as_millis();
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}

/// A `ResourceLimiter` that remembers whether the memory limit was hit, so the failure can be
/// reported as a limit breach rather than as the guest's allocation trap.
#[derive(Debug)]
pub struct MemoryGuard {
    limit: usize,
    /// Linear memory in use across all of the instance's memories.
    total: usize,
    breached: bool,
}

impl MemoryGuard {
    /// A guard allowing `limit` bytes of linear memory.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            total: 0,
            breached: false,
        }
    }

    /// True if the guest tried to grow past the limit.
    pub fn breached(&self) -> bool {
        self.breached
    }
}

impl wasmtime::ResourceLimiter for MemoryGuard {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The limit covers the sum of all memories, not each one.
        let total = self.total.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            self.breached = true;
            return Ok(false);
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
