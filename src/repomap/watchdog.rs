//! Deadlines for parses: one background thread raises a parse's cancellation flag when its budget runs out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// A cancellation flag that the watchdog raises at its deadline; dropping it disarms it.
pub struct Armed {
    flag: Arc<AtomicUsize>,
}

impl Armed {
    /// The flag to hand to tree-sitter.
    pub fn flag(&self) -> &AtomicUsize {
        &self.flag
    }

    /// Whether the deadline passed.
    pub fn fired(&self) -> bool {
        self.flag.load(Ordering::SeqCst) != 0
    }
}

struct Watchdog {
    pending: Mutex<Vec<(Instant, Weak<AtomicUsize>)>>,
    wake: Condvar,
}

/// A flag that is raised once `budget` has passed (or at once, where no watchdog thread could be started).
pub fn arm(budget: Duration) -> Armed {
    let flag = Arc::new(AtomicUsize::new(0));
    match watchdog() {
        Some(dog) => {
            let mut pending = dog.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.push((Instant::now() + budget, Arc::downgrade(&flag)));
            dog.wake.notify_one();
        }
        None => tracing::warn!("repo map: no watchdog thread; parses run without a time limit"),
    }
    Armed { flag }
}

fn watchdog() -> Option<&'static Watchdog> {
    static DOG: OnceLock<Option<&'static Watchdog>> = OnceLock::new();
    *DOG.get_or_init(|| {
        let dog: &'static Watchdog = Box::leak(Box::new(Watchdog {
            pending: Mutex::new(Vec::new()),
            wake: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("repomap-watchdog".into())
            .spawn(move || run(dog))
            .ok()
            .map(|_| dog)
    })
}

fn run(dog: &Watchdog) {
    let mut pending = dog.pending.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let now = Instant::now();
        // Drop disarmed entries, fire the due ones.
        pending.retain(|(deadline, weak)| match weak.upgrade() {
            None => false,
            Some(flag) if *deadline <= now => {
                flag.store(1, Ordering::SeqCst);
                false
            }
            Some(_) => true,
        });
        let next = pending.iter().map(|(d, _)| *d).min();
        pending = match next {
            Some(deadline) => {
                let wait = deadline
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(1));
                dog.wake
                    .wait_timeout(pending, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0)
            }
            None => dog.wake.wait(pending).unwrap_or_else(|p| p.into_inner()),
        };
    }
}
