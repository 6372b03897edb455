//! Facts about the machine the engine tunes itself to.

use std::collections::BTreeSet;

/// Physical CPU cores (hyper-threads share a core's math units, so decoding gains nothing from them).
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    linux_physical_cores().map_or(logical, |p| p.clamp(1, logical))
}

/// Counts distinct sibling sets under /sys; `None` where that is not available.
fn linux_physical_cores() -> Option<usize> {
    let entries = std::fs::read_dir("/sys/devices/system/cpu").ok()?;
    let mut cores = BTreeSet::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_cpu = name
            .strip_prefix("cpu")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !is_cpu {
            continue;
        }
        if let Ok(siblings) =
            std::fs::read_to_string(entry.path().join("topology/thread_siblings_list"))
        {
            cores.insert(siblings.trim().to_string());
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

/// llama.cpp's own line about the CPU features it was compiled with (`AVX2 = 1 | AVX512 = 1 | …`).
pub fn llama_system_info() -> String {
    // SAFETY: llama_print_system_info returns a pointer to a static, NUL-terminated buffer owned by llama.cpp;
    // it is copied out at once.
    let ptr = unsafe { llama_cpp_sys_2::llama_print_system_info() };
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: non-null and NUL-terminated, as above.
    unsafe { std::ffi::CStr::from_ptr(ptr) }
        .to_string_lossy()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn at_least_one_and_at_most_logical() {
        let n = super::physical_cores();
        let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(n >= 1 && n <= logical, "{n} physical of {logical} logical");
    }
}
