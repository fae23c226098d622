//! The errno of a failed system call, with the symbolic name of every errno Linux and
//! macOS define.
#![forbid(unsafe_code)]

use std::fmt;

/// An `errno` value returned by a failed system call.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

/// Declares a constant `Errno::NAME` for every name and a table from value to name,
/// compiled where `cfg` holds (elsewhere the table is empty). Where two names share a
/// value, the first listed is the one `name()` prints.
macro_rules! errnos {
    ($table:ident, cfg($($cfg:tt)*), [$($name:ident),* $(,)?]) => {
        #[cfg($($cfg)*)]
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub const $name: Errno = Errno(libc::$name);
            )*
        }

        #[cfg($($cfg)*)]
        const $table: &[(i32, &str)] = &[$((libc::$name, stringify!($name))),*];
        #[cfg(not($($cfg)*))]
        const $table: &[(i32, &str)] = &[];
    };
}

// Both systems. EWOULDBLOCK before its alias EAGAIN: it is what a non-blocking lock
// reports; EOPNOTSUPP before ENOTSUP, its alias on Linux.
errnos!(
    COMMON,
    cfg(any(
        target_os = "linux",
        target_os = "android",
        target_vendor = "apple"
    )),
    [
        EPERM,
        ENOENT,
        ESRCH,
        EINTR,
        EIO,
        ENXIO,
        E2BIG,
        ENOEXEC,
        EBADF,
        ECHILD,
        EDEADLK,
        ENOMEM,
        EACCES,
        EFAULT,
        ENOTBLK,
        EBUSY,
        EEXIST,
        EXDEV,
        ENODEV,
        ENOTDIR,
        EISDIR,
        EINVAL,
        ENFILE,
        EMFILE,
        ENOTTY,
        ETXTBSY,
        EFBIG,
        ENOSPC,
        ESPIPE,
        EROFS,
        EMLINK,
        EPIPE,
        EDOM,
        ERANGE,
        EWOULDBLOCK,
        EAGAIN,
        EINPROGRESS,
        EALREADY,
        ENOTSOCK,
        EDESTADDRREQ,
        EMSGSIZE,
        EPROTOTYPE,
        ENOPROTOOPT,
        EPROTONOSUPPORT,
        ESOCKTNOSUPPORT,
        EOPNOTSUPP,
        ENOTSUP,
        EPFNOSUPPORT,
        EAFNOSUPPORT,
        EADDRINUSE,
        EADDRNOTAVAIL,
        ENETDOWN,
        ENETUNREACH,
        ENETRESET,
        ECONNABORTED,
        ECONNRESET,
        ENOBUFS,
        EISCONN,
        ENOTCONN,
        ESHUTDOWN,
        ETOOMANYREFS,
        ETIMEDOUT,
        ECONNREFUSED,
        ELOOP,
        ENAMETOOLONG,
        EHOSTDOWN,
        EHOSTUNREACH,
        ENOTEMPTY,
        EUSERS,
        EDQUOT,
        ESTALE,
        EREMOTE,
        ENOLCK,
        ENOSYS,
        EOVERFLOW,
        ECANCELED,
        EIDRM,
        ENOMSG,
        EILSEQ,
        EBADMSG,
        EMULTIHOP,
        ENODATA,
        ENOLINK,
        ENOSR,
        ENOSTR,
        EPROTO,
        ETIME,
        EOWNERDEAD,
        ENOTRECOVERABLE,
    ]
);

// Linux only (asm-generic/errno.h). EDEADLOCK is EDEADLK's alias on most architectures.
errnos!(
    LINUX,
    cfg(any(target_os = "linux", target_os = "android")),
    [
        ECHRNG,
        EL2NSYNC,
        EL3HLT,
        EL3RST,
        ELNRNG,
        EUNATCH,
        ENOCSI,
        EL2HLT,
        EBADE,
        EBADR,
        EXFULL,
        ENOANO,
        EBADRQC,
        EBADSLT,
        EDEADLOCK,
        EBFONT,
        ENONET,
        ENOPKG,
        EADV,
        ESRMNT,
        ECOMM,
        EDOTDOT,
        ENOTUNIQ,
        EBADFD,
        EREMCHG,
        ELIBACC,
        ELIBBAD,
        ELIBSCN,
        ELIBMAX,
        ELIBEXEC,
        ERESTART,
        ESTRPIPE,
        EUCLEAN,
        ENOTNAM,
        ENAVAIL,
        EISNAM,
        EREMOTEIO,
        ENOMEDIUM,
        EMEDIUMTYPE,
        ENOKEY,
        EKEYEXPIRED,
        EKEYREVOKED,
        EKEYREJECTED,
        ERFKILL,
        EHWPOISON,
    ]
);

// macOS and its siblings only (sys/errno.h).
errnos!(
    APPLE,
    cfg(target_vendor = "apple"),
    [
        EPROCLIM,
        EBADRPC,
        ERPCMISMATCH,
        EPROGUNAVAIL,
        EPROGMISMATCH,
        EPROCUNAVAIL,
        EFTYPE,
        EAUTH,
        ENEEDAUTH,
        EPWROFF,
        EDEVERR,
        EBADEXEC,
        EBADARCH,
        ESHLIBVERS,
        EBADMACHO,
        ENOATTR,
        ENOPOLICY,
        EQFULL,
        ENOTCAPABLE,
    ]
);

impl Errno {
    /// The symbolic name (`"ENOENT"`), for journals and logs; `"E?"` for a value this
    /// system does not define.
    pub fn name(self) -> &'static str {
        COMMON
            .iter()
            .chain(LINUX)
            .chain(APPLE)
            .find(|(value, _)| *value == self.0)
            .map_or("E?", |(_, name)| name)
    }

    /// The errno this system calls `name` (the inverse of [`name`](Self::name)); None for
    /// a name it does not define.
    pub fn from_name(name: &str) -> Option<Errno> {
        COMMON
            .iter()
            .chain(LINUX)
            .chain(APPLE)
            .find(|(_, known)| *known == name)
            .map(|&(value, _)| Errno(value))
    }

    /// The errno of a std I/O error, if it carries one.
    pub fn from_io(error: &std::io::Error) -> Option<Errno> {
        error.raw_os_error().map(Errno)
    }

    /// The equivalent `std::io::Error`.
    pub fn to_io(self) -> std::io::Error {
        std::io::Error::from_raw_os_error(self.0)
    }
}

/// A std I/O error for a message: with its errno's symbolic name (`No such file or
/// directory (ENOENT)`) where std would print `(os error 2)`; other errors as std prints
/// them.
pub fn describe_io(error: &std::io::Error) -> String {
    match (Errno::from_io(error), error.get_ref()) {
        (Some(errno), None) => errno.to_string(),
        _ => error.to_string(),
    }
}

impl From<rustix::io::Errno> for Errno {
    fn from(errno: rustix::io::Errno) -> Errno {
        Errno(errno.raw_os_error())
    }
}

impl From<Errno> for std::io::Error {
    fn from(errno: Errno) -> std::io::Error {
        errno.to_io()
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // io::Error's Display appends "(os error N)"; the symbolic name reads better.
        let text = self.to_io().to_string();
        let text = text.split(" (os error").next().unwrap_or(&text);
        match self.name() {
            // A number this system names nothing: the number is all there is to show.
            "E?" => write!(f, "{text} (errno {})", self.0),
            name => write!(f, "{text} ({name})"),
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value the C library has a message for has a name: the C library's table
    /// is the system's list of errnos.
    #[test]
    fn every_errno_the_system_describes_has_a_name() {
        let mut described = 0;
        let mut unnamed = Vec::new();
        for value in 1..4096 {
            let text = std::io::Error::from_raw_os_error(value).to_string();
            if text.starts_with("Unknown error") {
                continue;
            }
            described += 1;
            if Errno(value).name() == "E?" {
                unnamed.push(format!("{value}: {text}"));
            }
        }
        assert!(described > 100, "only {described} errnos described");
        assert!(unnamed.is_empty(), "errnos without a name: {unnamed:?}");
    }

    /// Every errno rustix defines has a name, and the name is the one rustix's
    /// constant stands for.
    #[test]
    fn every_errno_rustix_defines_has_its_name() {
        use rustix::io::Errno as R;
        let mut checked = vec![
            (R::ACCESS, "EACCES"),
            (R::ADDRINUSE, "EADDRINUSE"),
            (R::ADDRNOTAVAIL, "EADDRNOTAVAIL"),
            (R::AFNOSUPPORT, "EAFNOSUPPORT"),
            (R::AGAIN, "EWOULDBLOCK"),
            (R::ALREADY, "EALREADY"),
            (R::BADF, "EBADF"),
            (R::BADMSG, "EBADMSG"),
            (R::BUSY, "EBUSY"),
            (R::CANCELED, "ECANCELED"),
            (R::CHILD, "ECHILD"),
            (R::CONNABORTED, "ECONNABORTED"),
            (R::CONNREFUSED, "ECONNREFUSED"),
            (R::CONNRESET, "ECONNRESET"),
            (R::DEADLK, "EDEADLK"),
            (R::DESTADDRREQ, "EDESTADDRREQ"),
            (R::DOM, "EDOM"),
            (R::DQUOT, "EDQUOT"),
            (R::EXIST, "EEXIST"),
            (R::FAULT, "EFAULT"),
            (R::FBIG, "EFBIG"),
            (R::HOSTDOWN, "EHOSTDOWN"),
            (R::HOSTUNREACH, "EHOSTUNREACH"),
            (R::IDRM, "EIDRM"),
            (R::ILSEQ, "EILSEQ"),
            (R::INPROGRESS, "EINPROGRESS"),
            (R::INTR, "EINTR"),
            (R::INVAL, "EINVAL"),
            (R::IO, "EIO"),
            (R::ISCONN, "EISCONN"),
            (R::ISDIR, "EISDIR"),
            (R::LOOP, "ELOOP"),
            (R::MFILE, "EMFILE"),
            (R::MLINK, "EMLINK"),
            (R::MSGSIZE, "EMSGSIZE"),
            (R::MULTIHOP, "EMULTIHOP"),
            (R::NAMETOOLONG, "ENAMETOOLONG"),
            (R::NETDOWN, "ENETDOWN"),
            (R::NETRESET, "ENETRESET"),
            (R::NETUNREACH, "ENETUNREACH"),
            (R::NFILE, "ENFILE"),
            (R::NOBUFS, "ENOBUFS"),
            (R::NODATA, "ENODATA"),
            (R::NODEV, "ENODEV"),
            (R::NOENT, "ENOENT"),
            (R::NOEXEC, "ENOEXEC"),
            (R::NOLCK, "ENOLCK"),
            (R::NOLINK, "ENOLINK"),
            (R::NOMEM, "ENOMEM"),
            (R::NOMSG, "ENOMSG"),
            (R::NOPROTOOPT, "ENOPROTOOPT"),
            (R::NOSPC, "ENOSPC"),
            (R::NOSR, "ENOSR"),
            (R::NOSTR, "ENOSTR"),
            (R::NOSYS, "ENOSYS"),
            (R::NOTBLK, "ENOTBLK"),
            (R::NOTCONN, "ENOTCONN"),
            (R::NOTDIR, "ENOTDIR"),
            (R::NOTEMPTY, "ENOTEMPTY"),
            (R::NOTRECOVERABLE, "ENOTRECOVERABLE"),
            (R::NOTSOCK, "ENOTSOCK"),
            (R::NOTTY, "ENOTTY"),
            (R::NXIO, "ENXIO"),
            (R::OPNOTSUPP, "EOPNOTSUPP"),
            (R::OVERFLOW, "EOVERFLOW"),
            (R::OWNERDEAD, "EOWNERDEAD"),
            (R::PERM, "EPERM"),
            (R::PFNOSUPPORT, "EPFNOSUPPORT"),
            (R::PIPE, "EPIPE"),
            (R::PROTO, "EPROTO"),
            (R::PROTONOSUPPORT, "EPROTONOSUPPORT"),
            (R::PROTOTYPE, "EPROTOTYPE"),
            (R::RANGE, "ERANGE"),
            (R::REMOTE, "EREMOTE"),
            (R::ROFS, "EROFS"),
            (R::SHUTDOWN, "ESHUTDOWN"),
            (R::SOCKTNOSUPPORT, "ESOCKTNOSUPPORT"),
            (R::SPIPE, "ESPIPE"),
            (R::SRCH, "ESRCH"),
            (R::STALE, "ESTALE"),
            (R::TIME, "ETIME"),
            (R::TIMEDOUT, "ETIMEDOUT"),
            (R::TOOBIG, "E2BIG"),
            (R::TOOMANYREFS, "ETOOMANYREFS"),
            (R::TXTBSY, "ETXTBSY"),
            (R::USERS, "EUSERS"),
            (R::WOULDBLOCK, "EWOULDBLOCK"),
            (R::XDEV, "EXDEV"),
        ];
        #[cfg(any(target_os = "linux", target_os = "android"))]
        checked.extend([
            (R::ADV, "EADV"),
            (R::BADE, "EBADE"),
            (R::BADFD, "EBADFD"),
            (R::BADR, "EBADR"),
            (R::BADRQC, "EBADRQC"),
            (R::BADSLT, "EBADSLT"),
            (R::BFONT, "EBFONT"),
            (R::CHRNG, "ECHRNG"),
            (R::COMM, "ECOMM"),
            (R::DOTDOT, "EDOTDOT"),
            (R::HWPOISON, "EHWPOISON"),
            (R::ISNAM, "EISNAM"),
            (R::KEYEXPIRED, "EKEYEXPIRED"),
            (R::KEYREJECTED, "EKEYREJECTED"),
            (R::KEYREVOKED, "EKEYREVOKED"),
            (R::L2HLT, "EL2HLT"),
            (R::L2NSYNC, "EL2NSYNC"),
            (R::L3HLT, "EL3HLT"),
            (R::L3RST, "EL3RST"),
            (R::LIBACC, "ELIBACC"),
            (R::LIBBAD, "ELIBBAD"),
            (R::LIBEXEC, "ELIBEXEC"),
            (R::LIBMAX, "ELIBMAX"),
            (R::LIBSCN, "ELIBSCN"),
            (R::LNRNG, "ELNRNG"),
            (R::MEDIUMTYPE, "EMEDIUMTYPE"),
            (R::NAVAIL, "ENAVAIL"),
            (R::NOANO, "ENOANO"),
            (R::NOCSI, "ENOCSI"),
            (R::NOKEY, "ENOKEY"),
            (R::NOMEDIUM, "ENOMEDIUM"),
            (R::NONET, "ENONET"),
            (R::NOPKG, "ENOPKG"),
            (R::NOTNAM, "ENOTNAM"),
            (R::NOTUNIQ, "ENOTUNIQ"),
            (R::REMCHG, "EREMCHG"),
            (R::REMOTEIO, "EREMOTEIO"),
            (R::RESTART, "ERESTART"),
            (R::RFKILL, "ERFKILL"),
            (R::SRMNT, "ESRMNT"),
            (R::STRPIPE, "ESTRPIPE"),
            (R::UCLEAN, "EUCLEAN"),
            (R::UNATCH, "EUNATCH"),
            (R::XFULL, "EXFULL"),
        ]);
        #[cfg(target_vendor = "apple")]
        checked.extend([
            (R::AUTH, "EAUTH"),
            (R::BADRPC, "EBADRPC"),
            (R::FTYPE, "EFTYPE"),
            (R::NEEDAUTH, "ENEEDAUTH"),
            (R::NOATTR, "ENOATTR"),
            (R::NOTSUP, "ENOTSUP"),
            (R::PROCLIM, "EPROCLIM"),
            (R::PROCUNAVAIL, "EPROCUNAVAIL"),
            (R::PROGMISMATCH, "EPROGMISMATCH"),
            (R::PROGUNAVAIL, "EPROGUNAVAIL"),
            (R::RPCMISMATCH, "ERPCMISMATCH"),
        ]);
        for (errno, name) in checked {
            assert_eq!(Errno::from(errno).name(), name, "{errno:?}");
        }
        // Aliases: either name will do, as long as it is one of the two.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        for (errno, names) in [
            (R::DEADLOCK, ["EDEADLK", "EDEADLOCK"]),
            (R::NOTSUP, ["EOPNOTSUPP", "ENOTSUP"]),
        ] {
            assert!(names.contains(&Errno::from(errno).name()), "{errno:?}");
        }
    }

    #[test]
    fn names_and_messages() {
        assert_eq!(Errno::ESTALE.name(), "ESTALE");
        assert_eq!(
            Errno::ENOENT.to_string(),
            "No such file or directory (ENOENT)"
        );
        assert_eq!(
            format!("{:?}", Errno::EEXIST),
            format!("EEXIST({})", libc::EEXIST)
        );
        assert_eq!(Errno(0).name(), "E?");
        assert_eq!(Errno(4095).to_string(), "Unknown error 4095 (errno 4095)");
        assert_eq!(
            describe_io(&std::io::Error::from_raw_os_error(libc::ESTALE)),
            "Stale file handle (ESTALE)"
        );
        assert_eq!(describe_io(&std::io::Error::other("no errno")), "no errno");
        assert_eq!(Errno(-1).name(), "E?");
    }
}
