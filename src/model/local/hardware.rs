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

/// The host CPU: its model name and which of the SIMD extensions llama.cpp can use it has, e.g.
/// `Intel(R) Xeon(R) Processor (avx2 fma f16c avx512f avx512_vnni avx512_bf16 amx_int8)`.
pub fn host_cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    host_cpu_from(&info).unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// The extensions worth naming, in the order they are named.
const NAMED: &[&str] = &[
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512_vnni",
    "avx512_vbmi",
    "avx512_bf16",
    "avx_vnni",
    "amx_int8",
    "amx_bf16",
    "asimddp",
    "i8mm",
    "sve",
];

fn host_cpu_from(cpuinfo: &str) -> Option<String> {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    let model = field("model name").or_else(|| field("CPU part"))?;
    let flags = field("flags")
        .or_else(|| field("Features"))
        .unwrap_or_default();
    let have: Vec<&str> = flags.split_whitespace().collect();
    let named: Vec<&str> = NAMED.iter().copied().filter(|f| have.contains(f)).collect();
    Some(format!("{model} ({})", named.join(" ")))
}

/// What llama.cpp computes with here: the extensions it was compiled with, and whether its AMX path is in use
/// (compiled in, and AMX state granted to this process, which tandem's engine worker refuses by default).
pub fn compute_path() -> String {
    let info = llama_system_info();
    let compiled: Vec<&str> = info
        .split('|')
        .map(|f| f.rsplit(':').next().unwrap_or(f).trim())
        .filter(|f| f.ends_with("= 1"))
        .map(|f| f.trim_end_matches("= 1").trim())
        .collect();
    let amx = if !compiled.contains(&"AMX_INT8") {
        "no AMX path compiled in"
    } else if amx_granted() {
        "AMX in use"
    } else {
        "AMX compiled in but refused (TANDEM_ALLOW_AMX=1 allows it)"
    };
    let features = if compiled.is_empty() {
        "no SIMD extensions reported".to_string()
    } else {
        compiled.join(" ")
    };
    format!("{features}; {amx}")
}

/// Whether this process holds AMX tile state (Linux x86_64: `ARCH_GET_XCOMP_PERM` has XTILEDATA).
fn amx_granted() -> bool {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        const ARCH_GET_XCOMP_PERM: libc::c_long = 0x1022;
        const XFEATURE_XTILEDATA: u32 = 18;
        let mut mask: u64 = 0;
        // SAFETY: arch_prctl(ARCH_GET_XCOMP_PERM) writes one u64 to the pointer it is given.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_GET_XCOMP_PERM,
                &mut mask as *mut u64,
            )
        };
        rc == 0 && mask & (1 << XFEATURE_XTILEDATA) != 0
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_cpu_is_named_with_the_extensions_llama_cpp_uses() {
        let info = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu sse2 avx2 fma avx512f amx_tile amx_int8 avx512_vnni\n";
        assert_eq!(
            super::host_cpu_from(info).unwrap(),
            "Intel(R) Xeon(R) Processor (avx2 fma avx512f avx512_vnni amx_int8)"
        );
        assert!(!super::host_cpu().is_empty());
    }

    #[test]
    fn at_least_one_and_at_most_logical() {
        let n = super::physical_cores();
        let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(n >= 1 && n <= logical, "{n} physical of {logical} logical");
    }
}
