//! Catching what llama.cpp prints straight to stderr (its grammar parser bypasses the log callback), so that
//! it reaches the log and error messages instead of a terminal a UI is drawing on.

use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::sync::Mutex;

/// Restores fd 2 when dropped, also if the captured call panics.
struct Restore(i32);

impl Drop for Restore {
    fn drop(&mut self) {
        // SAFETY: self.0 is a descriptor returned by dup(2) and owned by this guard.
        unsafe {
            libc::dup2(self.0, libc::STDERR_FILENO);
            libc::close(self.0);
        }
    }
}

/// Runs `f` with the process's stderr sent to a temporary file; returns `f`'s result and what it printed.
/// Where redirection is not possible, `f` runs as is and nothing is captured.
pub fn capture_stderr<R>(f: impl FnOnce() -> R) -> (R, String) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _serial = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Ok(mut file) = tempfile::tempfile() else {
        return (f(), String::new());
    };
    // SAFETY: plain descriptor calls on fd 2 and a file this function owns.
    let saved = unsafe { libc::dup(libc::STDERR_FILENO) };
    if saved < 0 {
        return (f(), String::new());
    }
    // SAFETY: as above; on failure `saved` is closed again.
    if unsafe { libc::dup2(file.as_raw_fd(), libc::STDERR_FILENO) } < 0 {
        unsafe { libc::close(saved) };
        return (f(), String::new());
    }
    let restore = Restore(saved);
    let result = f();
    drop(restore);
    let mut text = String::new();
    if file.seek(SeekFrom::Start(0)).is_ok() {
        let _ = file.read_to_string(&mut text);
    }
    (result, text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn captures_and_restores() {
        let (value, text) = super::capture_stderr(|| {
            // SAFETY: writing a static buffer to fd 2.
            unsafe { libc::write(libc::STDERR_FILENO, b"from C\n".as_ptr().cast(), 7) };
            42
        });
        assert_eq!((value, text.as_str()), (42, "from C\n"));
        let (_, again) = super::capture_stderr(|| ());
        assert_eq!(again, "");
    }
}
