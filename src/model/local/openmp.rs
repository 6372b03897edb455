//! How llama.cpp's OpenMP threads wait between operations: a short spin, then sleep, unless the person chose.
//!
//! libgomp spins a waiting thread for up to 300,000 iterations before it sleeps. On a shared machine (a build, a
//! test run, another model beside it) the spinning threads take the cores from the one thread with work, and
//! decoding collapses (llama-bench measured 0.28 tok/s with 2 spinning threads on a busy 2-core machine). Never
//! spinning (`OMP_WAIT_POLICY=passive`) is no answer either: every hand-over between threads then goes through
//! the kernel, and a small model's decode ran at a quarter of its speed on a quiet machine. A spin of 10,000
//! iterations keeps the quiet-machine speed and the busy-machine one (docs/BENCHMARKS.md has the numbers).
//! libgomp reads these variables once, in a constructor that runs when it is loaded, before `main`: setting them
//! from inside the process is too late, so the binary starts itself again with the variable set.

use std::ffi::OsString;

/// The variable libgomp reads its wait policy from.
pub const WAIT_POLICY: &str = "OMP_WAIT_POLICY";

/// The variable libgomp reads how long a waiting thread spins from.
pub const SPIN_COUNT: &str = "GOMP_SPINCOUNT";

/// tandem's spin count: about 10-30 microseconds of spinning before a waiting thread sleeps.
pub const SPINS: &str = "10000";

/// The variable to set (and its value) for a process whose environment holds `policy` and `spins`: `None`
/// keeps the person's choice when either is set.
pub fn wanted(
    policy: Option<&OsString>,
    spins: Option<&OsString>,
) -> Option<(&'static str, &'static str)> {
    match (policy, spins) {
        (None, None) => Some((SPIN_COUNT, SPINS)),
        _ => None,
    }
}

/// How OpenMP threads wait in this process, in words (for `tandem doctor`).
pub fn describe() -> String {
    match (std::env::var(WAIT_POLICY), std::env::var(SPIN_COUNT)) {
        (Ok(policy), Ok(spins)) => format!("{WAIT_POLICY}={policy}, {SPIN_COUNT}={spins}"),
        (Ok(policy), Err(_)) => format!("{WAIT_POLICY}={policy}"),
        (Err(_), Ok(spins)) => format!("spin {spins} iterations, then sleep"),
        (Err(_), Err(_)) => "libgomp default: spin 300,000 iterations".into(),
    }
}

/// Re-executes the running binary with tandem's spin count where no wait setting was made; returns (and the
/// process goes on as it is) where that is not needed or not possible. Call first thing in `main`, before any
/// thread.
pub fn settle_wait_policy() {
    let Some((name, value)) = wanted(
        std::env::var_os(WAIT_POLICY).as_ref(),
        std::env::var_os(SPIN_COUNT).as_ref(),
    ) else {
        return;
    };
    #[cfg(target_os = "linux")]
    {
        // exec only returns on failure: go on with libgomp's default (`tandem doctor` shows the policy in force).
        let _failed = crate::sandbox::spawn::restart_self(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_setting_is_kept_and_none_gets_a_short_spin() {
        assert_eq!(wanted(None, None), Some((SPIN_COUNT, SPINS)));
        let set = OsString::from("passive");
        assert_eq!(wanted(Some(&set), None), None);
        assert_eq!(wanted(None, Some(&OsString::from("0"))), None);
        assert_eq!(wanted(Some(&OsString::from("")), None), None);
    }
}
