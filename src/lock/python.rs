//! The Python lock (PEP 751 pylock.toml) and the closure check.
//! OWNER: helper B (in progress).
