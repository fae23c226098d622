//! The closed vocabularies that journals and reason files carry as words: how a job left
//! a consumer's hands ([`DoneResult`], [`DeadCause`], [`QuarantineCause`],
//! [`ReleaseCause`]), how it came back ([`RequeueCause`]) and the errno a claim protocol step returned ([`Errno`]).
//!
//! Each is an enum, and each word is spelled once, in the enum's definition: `as_str`,
//! `Display`, `FromStr` and serde all use it. Code compares values, never words, so
//! renaming a word is a format change the golden journal test notices, not a silent
//! change of what the auditor decides.

use spoolq_claim::RejectReason;

use crate::job::HeaderError;

/// A word a reader does not know: written by a newer spoolq, or by hand.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {word:?}")]
pub struct UnknownWord {
    /// What the word was meant to be (`DeadCause`, `Errno`, ...).
    pub what: &'static str,
    /// The word as read.
    pub word: String,
}

/// A value written as a fixed word. Implemented by every vocabulary here, and by the
/// claim crate's `Step` and `Strategy`, which journals carry the same way.
pub trait Word: Sized + Copy + 'static {
    /// What the word names, for errors.
    const WHAT: &'static str;
    /// The word files carry.
    fn word(self) -> &'static str;
    /// The value a word stands for.
    fn from_word(word: &str) -> Result<Self, UnknownWord>;
}

/// Defines a fieldless enum whose values are written as fixed words: `as_str`, `ALL`,
/// [`Word`], `Display`, `FromStr` and serde, all from the one table.
macro_rules! words {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            #[allow(dead_code, reason = "not every vocabulary needs every helper")]
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word files carry.
            #[allow(dead_code, reason = "not every vocabulary needs every helper")]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl $crate::codes::Word for $name {
            const WHAT: &'static str = stringify!($name);
            fn word(self) -> &'static str {
                self.as_str()
            }
            fn from_word(word: &str) -> Result<$name, $crate::codes::UnknownWord> {
                match word {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::codes::UnknownWord {
                        what: stringify!($name),
                        word: word.to_owned(),
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::codes::UnknownWord;
            fn from_str(s: &str) -> Result<$name, $crate::codes::UnknownWord> {
                <$name as $crate::codes::Word>::from_word(s)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let word = <::std::borrow::Cow<'de, str>>::deserialize(d)?;
                <$name as $crate::codes::Word>::from_word(&word).map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use words;

impl Word for spoolq_claim::Strategy {
    const WHAT: &'static str = "claim strategy";
    fn word(self) -> &'static str {
        self.as_str()
    }
    fn from_word(word: &str) -> Result<Self, UnknownWord> {
        word.parse().map_err(|_| UnknownWord {
            what: Self::WHAT,
            word: word.to_owned(),
        })
    }
}

impl Word for spoolq_claim::Step {
    const WHAT: &'static str = "claim protocol step";
    fn word(self) -> &'static str {
        self.as_str()
    }
    fn from_word(word: &str) -> Result<Self, UnknownWord> {
        word.parse().map_err(|_| UnknownWord {
            what: Self::WHAT,
            word: word.to_owned(),
        })
    }
}

words! {
    /// How the unlink of a job whose handler succeeded went (a `done` record's result).
    pub enum DoneResult {
        /// The job's name was unlinked under the lock.
        Ok = "ok",
        /// The name was already gone: another consumer had completed the job while this
        /// one waited for the lock, and the job ran again (the naive strategy's race).
        Enoent = "enoent",
    }
}

words! {
    /// Why a job that ran was moved to failed/ (a `dead` record's result, and the code
    /// of its reason file).
    pub enum DeadCause {
        /// The handler exited with 100: a permanent failure, never retried.
        PermanentFailure = "permanent_failure",
        /// The last attempt allowed failed.
        AttemptsExhausted = "attempts_exhausted",
    }
}

words! {
    /// Why a file that is not a valid job was moved to failed/ unprocessed (a
    /// `quarantined` record's result, and the code of its reason file).
    pub enum QuarantineCause {
        /// A name in new/ that is not `<id>` or `<id>.<attempts>`.
        NotAJobName = "not_a_job_name",
        /// A name in retry/ that is not `<id>.<attempts>.<due ms>`.
        NotARetryName = "not_a_retry_name",
        /// The header's id differs from the name's.
        IdMismatch = "id_mismatch",
        /// [`HeaderError::Empty`].
        Empty = "empty",
        /// [`HeaderError::NotAJob`].
        NotAJob = "not_a_job",
        /// [`HeaderError::UnsupportedVersion`].
        UnsupportedVersion = "unsupported_version",
        /// [`HeaderError::Unterminated`].
        UnterminatedHeader = "unterminated_header",
        /// [`HeaderError::NotUtf8`].
        HeaderNotUtf8 = "header_not_utf8",
        /// [`HeaderError::MalformedLine`].
        MalformedHeaderLine = "malformed_header_line",
        /// [`HeaderError::UnknownField`].
        UnknownField = "unknown_field",
        /// [`HeaderError::DuplicateField`].
        DuplicateField = "duplicate_field",
        /// [`HeaderError::MissingField`].
        MissingField = "missing_field",
        /// [`HeaderError::BadId`].
        BadId = "bad_id",
        /// [`HeaderError::BadTime`].
        BadTime = "bad_time",
        /// [`HeaderError::BadLength`].
        BadLength = "bad_length",
        /// [`HeaderError::LengthMismatch`].
        LengthMismatch = "length_mismatch",
        /// [`RejectReason::Symlink`], a rejection by the claim protocol.
        Symlink = "symlink",
        /// [`RejectReason::NotRegular`].
        NotRegular = "not_regular",
        /// [`RejectReason::HardLinked`].
        HardLinked = "hard_linked",
        /// [`RejectReason::Unreadable`].
        Unreadable = "unreadable",
    }
}

impl From<&HeaderError> for QuarantineCause {
    fn from(error: &HeaderError) -> QuarantineCause {
        match error {
            HeaderError::Empty => QuarantineCause::Empty,
            HeaderError::NotAJob => QuarantineCause::NotAJob,
            HeaderError::UnsupportedVersion(_) => QuarantineCause::UnsupportedVersion,
            HeaderError::Unterminated => QuarantineCause::UnterminatedHeader,
            HeaderError::NotUtf8 => QuarantineCause::HeaderNotUtf8,
            HeaderError::MalformedLine { .. } => QuarantineCause::MalformedHeaderLine,
            HeaderError::UnknownField(_) => QuarantineCause::UnknownField,
            HeaderError::DuplicateField(_) => QuarantineCause::DuplicateField,
            HeaderError::MissingField(_) => QuarantineCause::MissingField,
            HeaderError::BadId(_) => QuarantineCause::BadId,
            HeaderError::BadTime(_) => QuarantineCause::BadTime,
            HeaderError::BadLength(_) => QuarantineCause::BadLength,
            HeaderError::LengthMismatch { .. } => QuarantineCause::LengthMismatch,
        }
    }
}

impl From<RejectReason> for QuarantineCause {
    fn from(reason: RejectReason) -> QuarantineCause {
        match reason {
            RejectReason::Symlink => QuarantineCause::Symlink,
            RejectReason::NotRegular(_) => QuarantineCause::NotRegular,
            RejectReason::HardLinked { .. } => QuarantineCause::HardLinked,
            RejectReason::Unreadable(_) => QuarantineCause::Unreadable,
        }
    }
}

words! {
    /// Why a claimed job was released unprocessed, its file left where it was (a
    /// `released` record's result).
    pub enum ReleaseCause {
        /// The daemon shut down while the handler ran; the handler was terminated.
        Shutdown = "shutdown",
        /// The `claimed` record could not be written, so the handler never started.
        JournalFailed = "journal_failed",
        /// The handler succeeded but the unlink failed: the job runs again.
        CompleteFailed = "complete_failed",
        /// The move to retry/ failed: the job runs again from new/.
        RetryMoveFailed = "retry_move_failed",
        /// The move to failed/ failed: the job runs again from new/.
        BuryFailed = "bury_failed",
        /// The job's name no longer named the claimed file when its outcome was due
        /// (another file was renamed over it, or it was removed or moved by hand): the
        /// name was left alone, whatever the handler's result. The claimed file is not
        /// in the spool under that name any more, so nothing is left to complete.
        NameChanged = "name_changed",
        /// The rename that counts a started attempt (`<id>.<n>` to `<id>.<n+1>`, before
        /// an external handler runs) failed: the handler did not run, the file keeps its
        /// name.
        RenameFailed = "rename_failed",
    }
}

words! {
    /// How a job came back to new/ (a `requeued` record's result; records without one
    /// were written by the retry mover).
    pub enum RequeueCause {
        /// Its due time in retry/ passed (a retry, or a job produced for later): the
        /// daemon's retry mover moved it. Its attempt count goes on.
        Due = "due",
        /// An operator sent it back from failed/ (`spoolq requeue`) with a fresh attempt
        /// count: the count in its name starts again, so it no longer orders this job's
        /// claims (see docs/audit.md).
        FromFailed = "from_failed",
    }
}

/// An errno as journals carry it: by its symbolic name (`"ENOENT"`), which is the same on
/// every platform where the number is not. Any errno the OS layer names can be written and
/// read back; [`Errno::Unnamed`] stands for a number the writer had no name for (`"E?"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// An errno this system names.
    Known(spoolq_os::Errno),
    /// A number the writer had no name for.
    Unnamed,
}

impl Errno {
    /// The word files carry for a number without a name.
    pub const UNNAMED: &'static str = "E?";

    /// The word files carry.
    pub fn as_str(self) -> &'static str {
        match self {
            Errno::Known(errno) => errno.name(),
            Errno::Unnamed => Errno::UNNAMED,
        }
    }
}

impl Word for Errno {
    const WHAT: &'static str = "Errno";
    fn word(self) -> &'static str {
        self.as_str()
    }
    fn from_word(word: &str) -> Result<Errno, UnknownWord> {
        if word == Errno::UNNAMED {
            return Ok(Errno::Unnamed);
        }
        spoolq_os::Errno::from_name(word)
            .map(Errno::Known)
            .ok_or_else(|| UnknownWord {
                what: Self::WHAT,
                word: word.to_owned(),
            })
    }
}

impl From<spoolq_os::Errno> for Errno {
    fn from(errno: spoolq_os::Errno) -> Errno {
        if errno.name() == Errno::UNNAMED {
            Errno::Unnamed
        } else {
            Errno::Known(errno)
        }
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Errno {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Errno, UnknownWord> {
        Errno::from_word(s)
    }
}

impl serde::Serialize for Errno {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Errno {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Errno, D::Error> {
        let word = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Errno::from_word(&word).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn round_trips<T: Word + PartialEq + std::fmt::Debug>(all: &[T]) {
        let mut seen = HashSet::new();
        for &value in all {
            assert!(seen.insert(value.word()), "{} twice", value.word());
            assert_eq!(T::from_word(value.word()), Ok(value));
        }
        assert!(T::from_word("no such word").is_err());
    }

    #[test]
    fn every_word_reads_back_as_its_value() {
        round_trips(DoneResult::ALL);
        round_trips(DeadCause::ALL);
        round_trips(QuarantineCause::ALL);
        round_trips(ReleaseCause::ALL);
        round_trips(RequeueCause::ALL);
        round_trips(&[
            Errno::Known(spoolq_os::Errno::ENOENT),
            Errno::Known(spoolq_os::Errno::ESTALE),
            Errno::Unnamed,
        ]);
        round_trips(&spoolq_claim::Step::ALL);
        round_trips(&[
            spoolq_claim::Strategy::Naive,
            spoolq_claim::Strategy::Verified,
        ]);
    }

    #[test]
    fn reject_reasons_keep_the_claim_crates_codes() {
        let reasons = [
            RejectReason::Symlink,
            RejectReason::NotRegular(spoolq_claim::FileKind::Fifo),
            RejectReason::HardLinked { nlink: 2 },
            RejectReason::Unreadable(spoolq_claim::Errno::EACCES),
        ];
        for reason in reasons {
            assert_eq!(QuarantineCause::from(reason).as_str(), reason.code());
        }
    }

    #[test]
    fn every_errno_the_os_layer_names_reads_back() {
        let mut named = 0;
        for n in 1..4096 {
            let errno = spoolq_os::Errno(n);
            let journal = Errno::from(errno);
            assert_eq!(journal.as_str(), errno.name(), "errno {n}");
            assert_eq!(Errno::from_word(journal.as_str()), Ok(journal), "errno {n}");
            if journal != Errno::Unnamed {
                named += 1;
            }
        }
        assert!(named >= 100, "{named}");
    }
}
