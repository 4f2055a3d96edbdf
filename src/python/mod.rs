//! Python packaging: markers, tags, metadata, simple index, PEP 517 builds, wheel installation.
pub mod install;
pub mod markers;
pub mod metadata;
pub mod names;
pub mod pyproject;
pub mod requirements;
pub mod simple;
pub mod tags;
pub mod version;
pub mod wheel;
