//! Debian packages: .deb parsing and extraction, rootfs assembly.
//! OWNER: helper A (in progress).
