//! Locks: every input pinned by sha256. Python (PEP 751 `pylock.toml`) and Debian (.deb pins).
//! Locks name files by name, size and sha256, never by URL, so one lock serves any mirror.

pub mod builds;
pub mod debian;
pub mod index;
pub mod python;
pub mod python_error;
