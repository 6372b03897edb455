//! The sandbox: how tandem touches files (atomically), and later the path policy and shell runner.

mod atomic;

pub use atomic::write_atomic;
