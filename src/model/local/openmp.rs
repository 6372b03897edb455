//! How llama.cpp's OpenMP threads wait between operations: passively unless the person chose otherwise.
//!
//! libgomp spins a waiting thread for up to 300,000 iterations before it sleeps. On an idle machine that shaves a
//! little latency; on a shared one (a build, a test run, another model beside it) the spinning threads take the
//! cores from the one thread with work, and decoding collapses: llama-bench measured 0.28 tok/s with 2 spinning
//! threads against 26–40 tok/s with `OMP_WAIT_POLICY=passive` on the same busy 2-core machine. libgomp reads the
//! variable once, in a constructor that runs when it is loaded, before `main`: setting it from inside the process
//! is too late, so the binary starts itself again with the variable set.

use std::ffi::OsString;

/// The variable libgomp reads its wait policy from.
pub const WAIT_POLICY: &str = "OMP_WAIT_POLICY";

/// What the wait policy should be for a process whose environment holds `current`: `None` keeps the person's.
pub fn wanted(current: Option<&OsString>) -> Option<&'static str> {
    match current {
        Some(_) => None,
        None => Some("passive"),
    }
}

/// Re-executes the running binary with a passive OpenMP wait policy where none was set; returns (and the process
/// goes on as it is) where that is not needed or not possible. Call first thing in `main`, before any thread.
pub fn settle_wait_policy() {
    let Some(policy) = wanted(std::env::var_os(WAIT_POLICY).as_ref()) else {
        return;
    };
    #[cfg(target_os = "linux")]
    {
        // exec only returns on failure: go on with libgomp's default (`tandem doctor` shows the policy in force).
        let _failed = crate::sandbox::spawn::restart_self(WAIT_POLICY, policy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_policy_is_kept_and_a_missing_one_becomes_passive() {
        assert_eq!(wanted(None), Some("passive"));
        assert_eq!(wanted(Some(&OsString::from("active"))), None);
        assert_eq!(wanted(Some(&OsString::from(""))), None);
    }
}
