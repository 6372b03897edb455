//! The seccomp filter every confined command runs under, as classic BPF: it refuses terminal input injection
//! (`TIOCSTI`, `TIOCLINUX`), the kernel keyring (shared across namespaces), io_uring (which could do unseen
//! what the filter refuses), `prlimit` on any process but the caller (a command could otherwise change
//! tandem's limits), foreign system-call ABIs, and, when the network is off, `socket`, `connect`, `bind`,
//! `listen` and `accept` altogether: a Unix socket by path outside the workspace (a Docker or SSH agent
//! socket) is reached with `connect` (or a datagram `sendto` from a `socket`), which no file-system layer
//! mediates. `socketpair` stays, so programs that talk to their own children keep working.
//! Under bubblewrap the program is handed to `bwrap --seccomp`, which loads it after its own setup (it needs a
//! netlink socket for the loopback device); in the Landlock fallback it is loaded between fork and exec.

/// BPF_LD | BPF_W | BPF_ABS (BPF_LD and BPF_W are 0).
const BPF_LD_W_ABS: u16 = 0x20;
/// BPF_JMP | BPF_JEQ | BPF_K.
const BPF_JEQ_K: u16 = 0x05 | 0x10;
/// BPF_JMP | BPF_JGE | BPF_K.
#[cfg(target_arch = "x86_64")]
const BPF_JGE_K: u16 = 0x05 | 0x30;
/// BPF_JMP | BPF_JSET | BPF_K: taken when `A & k` is not zero.
const BPF_JSET_K: u16 = 0x05 | 0x40;
const BPF_RET_K: u16 = 0x06;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;

/// Offsets into `struct seccomp_data`: the system call number, the architecture, the low halves of arguments.
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0_LOW: u32 = 16;
const ARG1_LOW: u32 = 24;
const ARG2_LOW: u32 = 32;
const ARG3_LOW: u32 = 40;

/// The set-user-ID and set-group-ID mode bits.
const PRIVILEGE_BITS: u32 = 0o6000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_003E);
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_00B7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: Option<u32> = None;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter for a command (`network`: whether it may open non-Unix sockets); empty where the architecture
/// is not known.
pub fn filter(network: bool) -> Vec<libc::sock_filter> {
    let Some(arch) = AUDIT_ARCH else {
        return Vec::new();
    };
    let eperm = RET_ERRNO | libc::EPERM as u32;
    let mut f = vec![
        stmt(BPF_LD_W_ABS, ARCH),
        jump(BPF_JEQ_K, arch, 1, 0),
        stmt(BPF_RET_K, eperm), // a foreign ABI (i386 on x86_64) could reach socketcall
        stmt(BPF_LD_W_ABS, NR),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        // x32 system calls have bit 30 set.
        f.push(jump(BPF_JGE_K, 0x4000_0000, 0, 1));
        f.push(stmt(BPF_RET_K, eperm));
    }
    // ioctl: the request is an `unsigned int`, so the low half of the argument is what the kernel reads.
    f.extend([
        jump(BPF_JEQ_K, libc::SYS_ioctl as u32, 0, 5),
        stmt(BPF_LD_W_ABS, ARG1_LOW),
        jump(BPF_JEQ_K, libc::TIOCSTI as u32, 2, 0),
        jump(BPF_JEQ_K, libc::TIOCLINUX as u32, 1, 0),
        stmt(BPF_RET_K, RET_ALLOW),
        stmt(BPF_RET_K, eperm),
    ]);
    // prlimit64(0, …) is the caller itself (what `ulimit` does); any other pid is refused.
    f.extend([
        jump(BPF_JEQ_K, libc::SYS_prlimit64 as u32, 0, 4),
        stmt(BPF_LD_W_ABS, ARG0_LOW),
        jump(BPF_JEQ_K, 0, 0, 1),
        stmt(BPF_RET_K, RET_ALLOW),
        stmt(BPF_RET_K, eperm),
    ]);
    for nr in [
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ] {
        f.push(jump(BPF_JEQ_K, nr as u32, 0, 1));
        f.push(stmt(BPF_RET_K, eperm));
    }
    // No privilege bits cross the boundary: a mode with set-user-ID or set-group-ID is refused wherever a
    // system call sets one (chmod and its kin, and the mode of a file created by open or mknod), so a command
    // cannot leave a setuid file in the workspace for someone to run outside the sandbox. openat2 carries its
    // mode in a structure the filter cannot read: it is refused with ENOSYS, and callers fall back to openat.
    for (nr, arg) in mode_setting_calls() {
        f.extend([
            jump(BPF_JEQ_K, nr as u32, 0, 4),
            stmt(BPF_LD_W_ABS, arg),
            jump(BPF_JSET_K, PRIVILEGE_BITS, 0, 1),
            stmt(BPF_RET_K, eperm),
            stmt(BPF_RET_K, RET_ALLOW),
        ]);
    }
    f.push(jump(BPF_JEQ_K, libc::SYS_openat2 as u32, 0, 1));
    f.push(stmt(BPF_RET_K, RET_ERRNO | libc::ENOSYS as u32));
    // File capabilities are an extended attribute (`security.capability`), and the filter cannot read an
    // attribute's name: setting any extended attribute says "not supported", as on a file system without
    // them, which `cp -a`, `tar` and `rsync -X` pass over quietly.
    for nr in xattr_setting_calls() {
        f.push(jump(BPF_JEQ_K, nr as u32, 0, 1));
        f.push(stmt(BPF_RET_K, RET_ERRNO | libc::EOPNOTSUPP as u32));
    }
    if !network {
        for nr in [
            libc::SYS_socket,
            libc::SYS_connect,
            libc::SYS_bind,
            libc::SYS_listen,
            libc::SYS_accept,
            libc::SYS_accept4,
        ] {
            f.push(jump(BPF_JEQ_K, nr as u32, 0, 1));
            f.push(stmt(BPF_RET_K, eperm));
        }
    }
    f.push(stmt(BPF_RET_K, RET_ALLOW));
    f
}

/// The system calls that set an extended attribute.
fn xattr_setting_calls() -> Vec<libc::c_long> {
    vec![
        libc::SYS_setxattr,
        libc::SYS_lsetxattr,
        libc::SYS_fsetxattr,
        // setxattrat (Linux 6.13): the same number on every architecture.
        463,
    ]
}

/// The system calls that set a file's mode, each with the offset of its mode argument.
fn mode_setting_calls() -> Vec<(libc::c_long, u32)> {
    let mut calls = vec![
        (libc::SYS_fchmod, ARG1_LOW),
        (libc::SYS_fchmodat, ARG2_LOW),
        // fchmodat2 (Linux 6.6): the same number on every architecture.
        (452, ARG2_LOW),
        (libc::SYS_openat, ARG3_LOW),
        (libc::SYS_mknodat, ARG2_LOW),
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        (libc::SYS_chmod, ARG1_LOW),
        (libc::SYS_open, ARG2_LOW),
        (libc::SYS_creat, ARG1_LOW),
        (libc::SYS_mknod, ARG1_LOW),
    ]);
    calls
}

/// `arch_prctl(ARCH_REQ_XCOMP_PERM, …)`: how a process asks the kernel for AMX tile state.
#[cfg(target_arch = "x86_64")]
const ARCH_REQ_XCOMP_PERM: u32 = 0x1023;

/// The filter of the local engine's worker process: it refuses the request for AMX tile state, so a llama.cpp
/// built with its AMX path (which crashes on some CPUs, llama.cpp#20824) finds AMX unavailable and computes
/// with AVX-512 or AVX2 instead. Everything else is allowed. Empty where there is no AMX (not x86_64).
pub fn without_amx() -> Vec<libc::sock_filter> {
    #[cfg(target_arch = "x86_64")]
    {
        let Some(arch) = AUDIT_ARCH else {
            return Vec::new();
        };
        vec![
            stmt(BPF_LD_W_ABS, ARCH),
            jump(BPF_JEQ_K, arch, 0, 5),
            stmt(BPF_LD_W_ABS, NR),
            jump(BPF_JEQ_K, libc::SYS_arch_prctl as u32, 0, 3),
            stmt(BPF_LD_W_ABS, ARG0_LOW),
            jump(BPF_JEQ_K, ARCH_REQ_XCOMP_PERM, 0, 1),
            stmt(BPF_RET_K, RET_ERRNO | libc::EPERM as u32),
            stmt(BPF_RET_K, RET_ALLOW),
        ]
    }
    #[cfg(not(target_arch = "x86_64"))]
    Vec::new()
}

/// The program as the bytes `bwrap --seccomp FD` reads (the `sock_filter` array in native layout).
pub fn to_bytes(filter: &[libc::sock_filter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(filter.len() * 8);
    for ins in filter {
        out.extend_from_slice(&ins.code.to_ne_bytes());
        out.push(ins.jt);
        out.push(ins.jf);
        out.extend_from_slice(&ins.k.to_ne_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_engine_filter_refuses_amx_state_and_nothing_else() {
        let f = without_amx();
        let eperm = RET_ERRNO | libc::EPERM as u32;
        let arch_prctl = libc::SYS_arch_prctl as u32;
        assert_eq!(eval(&f, arch_prctl, [ARCH_REQ_XCOMP_PERM, 18]), eperm);
        // ARCH_GET_XCOMP_PERM, ARCH_SET_FS: allowed.
        assert_eq!(eval(&f, arch_prctl, [0x1022, 0]), RET_ALLOW);
        assert_eq!(eval(&f, arch_prctl, [0x1002, 0]), RET_ALLOW);
        assert_eq!(
            eval(&f, libc::SYS_read as u32, [ARCH_REQ_XCOMP_PERM, 0]),
            RET_ALLOW
        );
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn under_the_engine_filter_the_kernel_refuses_amx_state() {
        // A filter applies to the thread that loads it (and what it starts), so a thread of its own tries it.
        let errno = std::thread::spawn(|| {
            let f = without_amx();
            let program = libc::sock_fprog {
                len: f.len() as libc::c_ushort,
                filter: f.as_ptr().cast_mut(),
            };
            // SAFETY: prctl on the calling thread with a filter that outlives the call; then one arch_prctl.
            unsafe {
                assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
                assert_eq!(
                    libc::prctl(
                        libc::PR_SET_SECCOMP,
                        libc::SECCOMP_MODE_FILTER,
                        &program as *const libc::sock_fprog
                    ),
                    0
                );
                let rc = libc::syscall(libc::SYS_arch_prctl, 0x1023, 18);
                (rc, std::io::Error::last_os_error().raw_os_error())
            }
        })
        .join()
        .unwrap();
        // Without the filter the kernel grants it (an AMX CPU) or says EINVAL (none): EPERM is the filter.
        assert_eq!(errno, (-1, Some(libc::EPERM)));
    }

    /// Runs the filter on one system call, as the kernel's BPF interpreter would.
    fn eval(f: &[libc::sock_filter], nr: u32, args: [u32; 2]) -> u32 {
        eval4(f, nr, [args[0], args[1], 0, 0])
    }

    fn eval4(f: &[libc::sock_filter], nr: u32, args: [u32; 4]) -> u32 {
        let data = |off: u32| match off {
            NR => nr,
            ARCH => AUDIT_ARCH.unwrap_or(0),
            ARG0_LOW => args[0],
            ARG1_LOW => args[1],
            ARG2_LOW => args[2],
            ARG3_LOW => args[3],
            _ => 0,
        };
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let ins = f[pc];
            match ins.code {
                BPF_LD_W_ABS => acc = data(ins.k),
                BPF_RET_K => return ins.k,
                code => {
                    let taken = match code {
                        BPF_JEQ_K => acc == ins.k,
                        BPF_JSET_K => acc & ins.k != 0,
                        _ => acc >= ins.k,
                    };
                    pc += usize::from(if taken { ins.jt } else { ins.jf });
                }
            }
            pc += 1;
        }
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn no_call_may_set_a_setuid_or_setgid_mode() {
        let eperm = RET_ERRNO | libc::EPERM as u32;
        let f = filter(true);
        let sys = |n: libc::c_long| n as u32;
        let at = libc::AT_FDCWD as u32;
        let creat = libc::O_CREAT as u32 | libc::O_WRONLY as u32;
        for (nr, args, expected) in [
            (libc::SYS_fchmod, [3, 0o4755, 0, 0], eperm),
            (libc::SYS_fchmod, [3, 0o755, 0, 0], RET_ALLOW),
            (libc::SYS_fchmodat, [at, 0, 0o2755, 0], eperm),
            (libc::SYS_fchmodat, [at, 0, 0o1777, 0], RET_ALLOW),
            (452, [at, 0, 0o6755, 0], eperm),
            (libc::SYS_openat, [at, 0, creat, 0o4755], eperm),
            (libc::SYS_openat, [at, 0, creat, 0o644], RET_ALLOW),
            (libc::SYS_mknodat, [at, 0, libc::S_IFREG | 0o4755, 0], eperm),
            (libc::SYS_read, [0, 0o4755, 0o4755, 0o4755], RET_ALLOW),
        ] {
            assert_eq!(eval4(&f, sys(nr), args), expected, "{nr} {args:?}");
        }
        assert_eq!(
            eval4(&f, sys(libc::SYS_openat2), [at, 0, 0, 0]),
            RET_ERRNO | libc::ENOSYS as u32
        );
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(eval4(&f, sys(libc::SYS_chmod), [0, 0o4755, 0, 0]), eperm);
            assert_eq!(eval4(&f, sys(libc::SYS_chmod), [0, 0o755, 0, 0]), RET_ALLOW);
            assert_eq!(eval4(&f, sys(libc::SYS_creat), [0, 0o6711, 0, 0]), eperm);
            assert_eq!(eval4(&f, sys(libc::SYS_open), [0, creat, 0o4755, 0]), eperm);
        }
        // File capabilities: no extended attribute may be set.
        let unsupported = RET_ERRNO | libc::EOPNOTSUPP as u32;
        for nr in [
            libc::SYS_setxattr,
            libc::SYS_lsetxattr,
            libc::SYS_fsetxattr,
            463,
        ] {
            assert_eq!(eval4(&f, sys(nr), [0, 0, 0, 0]), unsupported, "{nr}");
        }
        assert_eq!(eval4(&f, sys(libc::SYS_getxattr), [0, 0, 0, 0]), RET_ALLOW);
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn the_filter_refuses_what_it_says_and_allows_the_rest() {
        let eperm = RET_ERRNO | libc::EPERM as u32;
        let off = filter(false);
        let sys = |n: libc::c_long| n as u32;
        assert_eq!(
            eval(&off, sys(libc::SYS_ioctl), [0, libc::TIOCSTI as u32]),
            eperm
        );
        assert_eq!(
            eval(&off, sys(libc::SYS_ioctl), [0, libc::TIOCLINUX as u32]),
            eperm
        );
        assert_eq!(
            eval(&off, sys(libc::SYS_ioctl), [0, libc::TIOCGWINSZ as u32]),
            RET_ALLOW
        );
        assert_eq!(eval(&off, sys(libc::SYS_prlimit64), [1234, 0]), eperm);
        assert_eq!(eval(&off, sys(libc::SYS_prlimit64), [0, 0]), RET_ALLOW);
        assert_eq!(eval(&off, sys(libc::SYS_keyctl), [0, 0]), eperm);
        assert_eq!(eval(&off, sys(libc::SYS_io_uring_setup), [0, 0]), eperm);
        assert_eq!(
            eval(&off, sys(libc::SYS_socket), [libc::AF_INET as u32, 0]),
            eperm
        );
        assert_eq!(
            eval(&off, sys(libc::SYS_socket), [libc::AF_UNIX as u32, 0]),
            eperm
        );
        assert_eq!(eval(&off, sys(libc::SYS_connect), [3, 0]), eperm);
        assert_eq!(
            eval(&off, sys(libc::SYS_socketpair), [libc::AF_UNIX as u32, 0]),
            RET_ALLOW
        );
        assert_eq!(eval(&off, sys(libc::SYS_read), [0, 0]), RET_ALLOW);
        let on = filter(true);
        assert_eq!(
            eval(&on, sys(libc::SYS_socket), [libc::AF_INET as u32, 0]),
            RET_ALLOW
        );
        assert_eq!(eval(&on, sys(libc::SYS_connect), [3, 0]), RET_ALLOW);
        assert_eq!(
            eval(&on, sys(libc::SYS_ioctl), [0, libc::TIOCSTI as u32]),
            eperm
        );
        assert_eq!(to_bytes(&on).len(), on.len() * 8);
    }
}
