//! Retrying transient failures with exponential backoff: one policy for registry requests and
//! downloads. Runtime-agnostic: the caller passes its async `sleep`.

use std::future::Future;
use std::time::Duration;

/// How often to try and how long to wait in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (the first try plus retries).
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub first_delay: Duration,
}

impl Retry {
    /// Network requests: 4 attempts, waiting 250 ms, 500 ms, 1 s.
    pub const NETWORK: Self = Self {
        attempts: 4,
        first_delay: Duration::from_millis(250),
    };

    /// Run `op` until it succeeds, fails with an error `transient` rejects, or the attempts
    /// are used up; `what` names it in the debug log. The error comes with the number of
    /// attempts made.
    pub async fn run<T, E, Op, Fut, Sleep, Slept>(
        &self,
        what: &str,
        mut op: Op,
        transient: impl Fn(&E) -> bool,
        sleep: Sleep,
    ) -> Result<T, (E, u32)>
    where
        Op: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        Sleep: Fn(Duration) -> Slept,
        Slept: Future<Output = ()>,
        E: std::fmt::Display,
    {
        let mut delay = self.first_delay;
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < self.attempts && transient(&e) => {
                    tracing::debug!(%what, attempt, error = %e, "retrying");
                    sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => return Err((e, attempt)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Drive a future that never waits (the test's sleep returns at once).
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn transient_errors_are_retried_with_doubling_delays_then_given_up() {
        let calls = Cell::new(0);
        let slept = std::cell::RefCell::new(Vec::new());
        let result: Result<(), (String, u32)> = block_on(Retry::NETWORK.run(
            "test",
            || {
                calls.set(calls.get() + 1);
                async { Err("503".to_owned()) }
            },
            |_| true,
            |d| {
                slept.borrow_mut().push(d);
                async {}
            },
        ));
        assert_eq!(result.unwrap_err(), ("503".to_owned(), 4));
        assert_eq!(calls.get(), 4);
        let ms: Vec<u128> = slept.borrow().iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [250, 500, 1000]);
    }

    #[test]
    fn a_permanent_error_or_a_success_stops_at_once() {
        let calls = Cell::new(0);
        let result: Result<(), (String, u32)> = block_on(Retry::NETWORK.run(
            "test",
            || {
                calls.set(calls.get() + 1);
                async { Err("404".to_owned()) }
            },
            |e: &String| e.starts_with('5'),
            |_| async {},
        ));
        assert_eq!(result.unwrap_err().1, 1);
        let ok: Result<u8, (String, u32)> =
            block_on(Retry::NETWORK.run("test", || async { Ok(7) }, |_| true, |_| async {}));
        assert_eq!(ok.unwrap(), 7);
    }
}
