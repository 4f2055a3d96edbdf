//! Python packaging: markers, tags, metadata, simple index, PEP 517 builds, wheel installation.
pub mod wheel;
