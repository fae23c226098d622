//! Starting handler processes tied to the daemon: the only unsafe code of spoolq.
//!
//! Two things here have no safe interface in any maintained crate:
//!
//! - [`kill_child_with_parent`]: a parent-death signal for a child started by
//!   `std::process::Command`, which needs a `pre_exec` hook (unsafe by contract: it runs
//!   in the forked child). The hook itself makes only rustix calls.
//! - [`spawn_linked`] (Linux): a vfork-style spawn, `clone(CLONE_VM | CLONE_VFORK |
//!   CLONE_PIDFD)` onto a private stack, with the death signal and a new process group
//!   set in the child before `execve`. rustix has no `clone` with a stack and entry
//!   point, and keeps `sigaction`, `sigprocmask` and `execve` for libc implementations
//!   (its `runtime` module), so those are libc calls; everything else in the child
//!   (prctl, getppid, setpgid, dup2) and around it (mmap, waitpid, pidfd signals) is
//!   rustix. Registering the child's pidfd with tokio is unsafe too: `AsyncFd::new`,
//!   the safe constructor, is deprecated as unsound in the tokio this builds with, and
//!   its replacement `register_with_interest` is an `unsafe fn`.
//!
//! Every unsafe block carries its `// SAFETY:` argument.
#![allow(unsafe_code)]

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use crate::process::pipe;
#[cfg(all(target_os = "linux", feature = "async"))]
pub use linked::AsyncLinkedChild;
#[cfg(target_os = "linux")]
pub use linked::{LinkedChild, SpawnError, spawn_linked};

/// Arranges for a child spawned by `command` to receive SIGKILL when the thread that
/// spawned it dies (Linux `PR_SET_PDEATHSIG`). Elsewhere a no-op: there the daemon
/// relies on killing the handler's process group on drop.
///
/// The death signal follows the spawning *thread*, so spawn from a thread that lives as
/// long as the daemon (an async worker thread, not a short-lived blocking-pool thread).
pub fn kill_child_with_parent(command: &mut std::process::Command) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::process::{Signal, getpid, getppid, kill_process};
        use std::os::unix::process::CommandExt;
        let parent = getpid();
        // SAFETY: the closure runs in the forked child before exec. It allocates nothing
        // and takes no lock: it makes three system calls (prctl, getppid, kill) through
        // rustix, which returns their errors as values without touching errno, and
        // converting an errno into io::Error does not allocate.
        unsafe {
            command.pre_exec(move || {
                rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
                // The parent may have died between fork and prctl.
                if getppid() != Some(parent) {
                    let _ = kill_process(getpid(), Signal::KILL);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = command;
}

/// Starting a handler process without copying the daemon (Linux).
///
/// `std::process::Command` forks as soon as a `pre_exec` hook is set, and the daemon
/// needs one for `PR_SET_PDEATHSIG`. Forking copies the daemon's mappings and page
/// tables for a child that throws them away at `execve`: most of the cost of a short
/// handler (docs/performance.md, "Exec handler against xargs"). This does what glibc's
/// `posix_spawn` does instead, `clone(CLONE_VM | CLONE_VFORK)` onto a small private
/// stack, and adds the one step `posix_spawn` cannot: the parent-death signal, set in
/// the child before `execve`. The child gets a pidfd (`CLONE_PIDFD`, Linux 5.2) so the
/// caller can wait for it on its event loop without SIGCHLD.
#[cfg(target_os = "linux")]
mod linked {
    use std::ffi::{CStr, CString};
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicI32, Ordering};

    use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};
    use rustix::process::{Pid, Signal, WaitOptions};

    use crate::Errno;

    /// The child's stack: it only calls a handful of thin system call wrappers before
    /// execve.
    const CHILD_STACK: usize = 64 * 1024;
    /// Signals 1..NSIG on Linux.
    const SIGNALS: libc::c_int = 65;

    /// What the child needs, prepared by the parent: the child must not allocate (another
    /// thread of the daemon may hold the allocator's lock) nor touch anything else.
    struct ChildPlan {
        program: *const libc::c_char,
        argv: *const *const libc::c_char,
        envp: *const *const libc::c_char,
        /// Descriptors to become the child's 0, 1 and 2; all above 2.
        stdio: [RawFd; 3],
        parent: Pid,
        /// Set by the child when a step before execve fails: its errno.
        error: AtomicI32,
    }

    /// Why [`spawn_linked`] started nothing.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SpawnError {
        /// The kernel refused the clone flags (no CLONE_PIDFD, before Linux 5.2).
        Unsupported,
        /// A step failed with this errno (setup, the clone, or in the child up to and
        /// including `execve`).
        Failed(Errno),
    }

    impl From<Errno> for SpawnError {
        fn from(errno: Errno) -> SpawnError {
            SpawnError::Failed(errno)
        }
    }

    impl From<rustix::io::Errno> for SpawnError {
        fn from(errno: rustix::io::Errno) -> SpawnError {
            SpawnError::Failed(errno.into())
        }
    }

    /// A handler started by [`spawn_linked`]: its own process group leader, killed by the
    /// kernel when the spawning thread dies, killed and reaped when dropped unwaited.
    #[derive(Debug)]
    pub struct LinkedChild {
        pid: Pid,
        pidfd: OwnedFd,
        reaped: bool,
    }

    /// Children dropped before they could be reaped: reaped at the next spawn.
    static ORPHANS: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

    fn reap_orphans() {
        let mut orphans = ORPHANS.lock().unwrap_or_else(|p| p.into_inner());
        // Still running: kept; exited (now reaped) or gone: dropped.
        orphans.retain(|&pid| {
            matches!(
                rustix::process::waitpid(Some(pid), WaitOptions::NOHANG),
                Ok(None)
            )
        });
    }

    /// The errno the last failed libc call of this thread left.
    fn last_errno() -> i32 {
        std::io::Error::last_os_error()
            .raw_os_error()
            .filter(|&errno| errno != 0)
            .unwrap_or(libc::EIO)
    }

    /// A mapping for the child's stack with a guard page below it, unmapped on drop.
    struct Stack {
        base: *mut std::ffi::c_void,
        len: usize,
    }

    impl Stack {
        fn new() -> Result<Stack, Errno> {
            let page = rustix::param::page_size();
            let len = CHILD_STACK + page;
            // SAFETY: an anonymous private mapping at an address of the kernel's choice;
            // no existing memory is affected.
            let base = unsafe {
                rustix::mm::mmap_anonymous(
                    std::ptr::null_mut(),
                    len,
                    ProtFlags::READ | ProtFlags::WRITE,
                    MapFlags::PRIVATE | MapFlags::STACK,
                )
            }?;
            let stack = Stack { base, len };
            // SAFETY: the first page of the mapping just created, owned by `stack`.
            unsafe { rustix::mm::mprotect(base, page, MprotectFlags::empty()) }?;
            Ok(stack)
        }

        /// The initial stack pointer: the top of the mapping (stacks grow down on every
        /// architecture Linux runs this on), 16-byte aligned since mmap is page-aligned.
        fn top(&self) -> *mut libc::c_void {
            // SAFETY: one past the end of the mapping, the conventional stack top.
            unsafe { self.base.cast::<u8>().add(self.len).cast() }
        }
    }

    impl Drop for Stack {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `new`, no longer used: the vfork child has
            // exec'd or exited by the time clone returns in the parent.
            let _ = unsafe { rustix::mm::munmap(self.base, self.len) };
        }
    }

    /// Returns `fd` if it is above 2, else a close-on-exec duplicate that is: the child
    /// dup2s its three descriptors onto 0, 1 and 2 in order, which must not clobber a
    /// source still to be moved.
    fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, Errno> {
        if fd.as_raw_fd() > 2 {
            return Ok(fd);
        }
        rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(Errno::from)
    }

    /// Puts back to default every signal the daemon handles, and SIGPIPE (Rust ignores
    /// it in the daemon; execve would keep it ignored), so none of the daemon's handlers
    /// can run in the child on borrowed memory.
    ///
    /// # Safety
    ///
    /// Only in the child of [`spawn_linked`], with every signal blocked and its own copy
    /// of the signal handler table (no CLONE_SIGHAND).
    unsafe fn reset_signal_dispositions() {
        // SAFETY: sigaction is plain data; all-zero is a valid value (SIG_DFL, no flags,
        // an empty mask).
        let mut default: libc::sigaction = unsafe { std::mem::zeroed() };
        default.sa_sigaction = libc::SIG_DFL;
        for signal in 1..SIGNALS {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            // SAFETY: as for `default`.
            let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: reads this process's disposition into `current`, valid for writes.
            if unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) } != 0 {
                continue;
            }
            let handled =
                current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN;
            if handled || signal == libc::SIGPIPE {
                // SAFETY: sets the child's own copy of the table (the caller's contract).
                unsafe { libc::sigaction(signal, &default, std::ptr::null_mut()) };
            }
        }
    }

    /// The child side of the clone: runs on its own stack in the daemon's memory while
    /// the spawning thread is suspended. Only async-signal-safe calls, no allocation,
    /// no panics; every failure ends in `_exit(127)` with the errno left in the plan.
    extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` is the `ChildPlan` the parent keeps alive until clone returns,
        // which with CLONE_VFORK is after this child has exec'd or exited.
        let plan = unsafe { &*arg.cast::<ChildPlan>() };
        let fail = |errno: i32| -> libc::c_int {
            plan.error.store(
                if errno == 0 { libc::EIO } else { errno },
                Ordering::Relaxed,
            );
            // SAFETY: _exit ends the child without running anything of the daemon's
            // (no atexit handlers, no destructors, no stdio flush).
            unsafe { libc::_exit(127) }
        };
        // SAFETY: this is that child: every signal is blocked (the parent blocked them
        // around clone) and the table is the child's own copy.
        unsafe { reset_signal_dispositions() };
        // SAFETY: sigset_t is plain data that sigemptyset initialises; sigprocmask
        // changes only this child's mask.
        let unblocked = unsafe {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut())
        };
        if unblocked != 0 {
            return fail(last_errno());
        }
        if let Err(e) = rustix::process::set_parent_process_death_signal(Some(Signal::KILL)) {
            return fail(e.raw_os_error());
        }
        // The spawning thread cannot die while suspended in vfork, but the process can
        // be killed as a whole: then nobody waits for this handler.
        if rustix::process::getppid() != Some(plan.parent) {
            // SAFETY: as in `fail`.
            unsafe { libc::_exit(127) };
        }
        if let Err(e) = rustix::process::setpgid(None, None) {
            return fail(e.raw_os_error());
        }
        let [stdin, stdout, stderr] = plan.stdio;
        // SAFETY: the parent holds these descriptors open (OwnedFds in `spawn_linked`)
        // until clone returns, after this child has exec'd or exited.
        let (stdin, stdout, stderr) = unsafe {
            (
                BorrowedFd::borrow_raw(stdin),
                BorrowedFd::borrow_raw(stdout),
                BorrowedFd::borrow_raw(stderr),
            )
        };
        let moved = rustix::stdio::dup2_stdin(stdin)
            .and_then(|()| rustix::stdio::dup2_stdout(stdout))
            .and_then(|()| rustix::stdio::dup2_stderr(stderr));
        if let Err(e) = moved {
            return fail(e.raw_os_error());
        }
        // SAFETY: the program path, argv and envp are NUL-terminated strings and
        // NULL-terminated arrays the parent keeps alive (see `plan`); execve returns only
        // on failure.
        unsafe { libc::execve(plan.program, plan.argv, plan.envp) };
        fail(last_errno())
    }

    /// Starts `program` (a path; no PATH search) with `argv` and the full environment
    /// `envp`, its stdin, stdout and stderr the given descriptors (closed here in the
    /// parent once the child has them), in a new process group of its own, with
    /// SIGKILL as its parent-death signal. The spawning thread is its parent: spawn
    /// from a thread that lives as long as the handler should.
    ///
    /// Fails with the errno of the step that failed, `execve`'s included (ENOENT,
    /// EACCES, ...), after reaping the failed child; with [`SpawnError::Unsupported`]
    /// when the clone itself is refused with EINVAL or ENOSYS (a kernel without
    /// CLONE_PIDFD): the caller should then use `std::process::Command`. Only here is
    /// it known which step failed: an EINVAL from `execve` is not a kernel's verdict.
    pub fn spawn_linked(
        program: &CStr,
        argv: &[CString],
        envp: &[&CStr],
        stdio: [OwnedFd; 3],
    ) -> Result<LinkedChild, SpawnError> {
        reap_orphans();
        let [stdin, stdout, stderr] = stdio;
        let stdio = [
            above_stdio(stdin)?,
            above_stdio(stdout)?,
            above_stdio(stderr)?,
        ];
        let argv: Vec<*const libc::c_char> = argv
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let envp: Vec<*const libc::c_char> = envp
            .iter()
            .map(|e| e.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let plan = ChildPlan {
            program: program.as_ptr(),
            argv: argv.as_ptr(),
            envp: envp.as_ptr(),
            stdio: [
                stdio[0].as_raw_fd(),
                stdio[1].as_raw_fd(),
                stdio[2].as_raw_fd(),
            ],
            parent: rustix::process::getpid(),
            error: AtomicI32::new(0),
        };
        let stack = Stack::new()?;
        let mut pidfd: libc::c_int = -1;
        // SAFETY: sigset_t is plain data that sigfillset and pthread_sigmask initialise.
        let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: see above.
        let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both sets are valid for writes; blocking signals on this thread only.
        unsafe {
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        }
        let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
        // SAFETY: the child runs `child_main` on `stack`, which stays mapped until after
        // clone returns; CLONE_VFORK suspends this thread until the child has exec'd or
        // exited, so `plan`, `argv`, `envp`, the C strings they point to and `stdio`
        // outlive every use the child makes of them. CLONE_PIDFD stores the pidfd in
        // `pidfd` (the parent_tid argument).
        let pid = unsafe {
            libc::clone(
                child_main,
                stack.top(),
                flags,
                std::ptr::from_ref(&plan).cast_mut().cast(),
                &mut pidfd as *mut libc::c_int,
            )
        };
        let clone_error = Errno(last_errno());
        // SAFETY: restoring this thread's signal mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut()) };
        drop(stack);
        drop(stdio);
        let Some(pid) = (pid > 0).then_some(pid).and_then(Pid::from_raw) else {
            return Err(
                if clone_error == Errno::EINVAL || clone_error == Errno::ENOSYS {
                    SpawnError::Unsupported
                } else {
                    SpawnError::Failed(clone_error)
                },
            );
        };
        let child = LinkedChild {
            pid,
            // SAFETY: clone succeeded with CLONE_PIDFD, so `pidfd` is a new descriptor
            // that nothing else owns.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
            reaped: false,
        };
        match plan.error.load(Ordering::Relaxed) {
            0 => Ok(child),
            error => {
                let mut child = child;
                // The child has already exited (vfork returned without an exec).
                let _ = child.wait_with(WaitOptions::empty());
                Err(SpawnError::Failed(Errno(error)))
            }
        }
    }

    impl LinkedChild {
        /// The process id, which is also its process group id.
        pub fn id(&self) -> u32 {
            self.pid.as_raw_pid().unsigned_abs()
        }

        /// The raw wait status if the child has exited (reaping it), `None` if it
        /// still runs. Wait for readability of [`AsFd`] (the pidfd) before calling.
        pub fn try_wait(&mut self) -> Result<Option<i32>, Errno> {
            self.wait_with(WaitOptions::NOHANG)
        }

        fn wait_with(&mut self, options: WaitOptions) -> Result<Option<i32>, Errno> {
            if self.reaped {
                return Err(Errno::ECHILD);
            }
            // `pid` is our unreaped child, so the id cannot have been reused.
            let waited =
                rustix::io::retry_on_intr(|| rustix::process::waitpid(Some(self.pid), options))?;
            let Some((_, status)) = waited else {
                return Ok(None);
            };
            self.reaped = true;
            Ok(Some(status.as_raw()))
        }
    }

    impl AsFd for LinkedChild {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.pidfd.as_fd()
        }
    }

    impl AsRawFd for LinkedChild {
        fn as_raw_fd(&self) -> RawFd {
            self.pidfd.as_raw_fd()
        }
    }

    /// A [`LinkedChild`] waited on by a tokio event loop (its pidfd turns readable when
    /// it exits).
    #[cfg(feature = "async")]
    #[derive(Debug)]
    pub struct AsyncLinkedChild(tokio::io::unix::AsyncFd<LinkedChild>);

    #[cfg(feature = "async")]
    impl AsyncLinkedChild {
        /// Registers `child` with the current tokio runtime (call from within one).
        pub fn new(child: LinkedChild) -> std::io::Result<AsyncLinkedChild> {
            // SAFETY: the descriptor is the child's pidfd, an OwnedFd the child holds
            // until it is dropped (with the AsyncFd), and `as_raw_fd` always returns
            // that same descriptor.
            let registered = unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(
                    child,
                    tokio::io::Interest::READABLE,
                )
            };
            registered
                .map(AsyncLinkedChild)
                .map_err(std::io::Error::from)
        }

        /// The process id, which is also its process group id.
        pub fn id(&self) -> u32 {
            self.0.get_ref().id()
        }

        /// The raw wait status if the child has exited (reaping it), `None` if it still
        /// runs; never waits. Tells an exit the event loop has not reported yet.
        pub fn try_wait(&mut self) -> std::io::Result<Option<i32>> {
            self.0.get_mut().try_wait().map_err(Errno::to_io)
        }

        /// Waits for the child to exit and reaps it: its raw wait status. Cancel-safe.
        pub async fn wait(&mut self) -> std::io::Result<i32> {
            loop {
                let mut ready = self.0.readable_mut().await?;
                match ready.get_inner_mut().try_wait() {
                    Ok(Some(status)) => return Ok(status),
                    Ok(None) => ready.clear_ready(),
                    Err(e) => return Err(e.to_io()),
                }
            }
        }
    }

    impl Drop for LinkedChild {
        fn drop(&mut self) {
            if self.reaped {
                return;
            }
            // Through the pidfd: it names this child whatever happened to its pid.
            let _ = rustix::process::pidfd_send_signal(&self.pidfd, Signal::KILL);
            if !matches!(self.try_wait(), Ok(Some(_))) {
                ORPHANS
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(self.pid);
            }
        }
    }
}
