//! `relsign publish`: one signed release to every destination of the recipe (`[[publish]]`):
//! PyPI-style indexes (legacy upload API), OCI registries (distribution spec, OCI 1.1 referrers
//! with the `sha256-<hex>` tag fallback) and static mirrors. A publish is a plan (destinations ×
//! items) executed in a fixed order (blobs, manifests, signatures, then tags and index pages),
//! recorded step by step in a journal so that a re-run resumes, and read back at the end.

pub mod journal;
pub mod plan;
pub mod pull;
pub mod pypi;
pub mod registry;
pub mod run;

use std::path::PathBuf;

/// The environment variable holding `user:secret` for pulls (verify, rebuild) and the
/// registry login hint.
pub const PULL_CREDENTIALS_ENV: &str = "RELSIGN_REGISTRY_CREDENTIALS";

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("credentials for destination {dest}: environment variable {var} is not set")]
    MissingEnv { dest: String, var: String },
    #[error("credentials for destination {dest}: reading {path}: {source}")]
    File {
        dest: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("credentials for destination {dest}: {path} is empty")]
    Empty { dest: String, path: PathBuf },
}

/// A user name and secret. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}:***)", self.username)
    }
}

impl Credentials {
    pub fn new(username: impl Into<String>, secret: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            secret: secret.into(),
        }
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `user:secret`, or a bare token (user `__token__`, as PyPI API tokens are used).
    pub fn parse(value: &str) -> Credentials {
        let v = value.trim_end_matches(['\r', '\n']);
        match v.split_once(':') {
            Some((u, s)) if !u.is_empty() => Credentials::new(u, s),
            _ => Credentials::new("__token__", v),
        }
    }

    /// The credentials in environment variable `var`, when it is set and not empty.
    pub fn from_env(var: &str) -> Option<Credentials> {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| Credentials::parse(&v))
    }

    /// The environment variable consulted when a destination names no credentials.
    pub fn default_env(dest: &str) -> String {
        let up: String = dest
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("RELSIGN_PUBLISH_{up}")
    }

    /// Resolve a destination's `credentials` spec (`env:VAR` or `file:PATH`); without one,
    /// `RELSIGN_PUBLISH_<NAME>` when set, else anonymous.
    pub fn resolve(spec: Option<&str>, dest: &str) -> Result<Option<Credentials>, CredentialError> {
        match spec {
            Some(s) if s.starts_with("env:") => {
                let var = &s[4..];
                match std::env::var(var) {
                    Ok(v) if !v.is_empty() => Ok(Some(Credentials::parse(&v))),
                    _ => Err(CredentialError::MissingEnv {
                        dest: dest.into(),
                        var: var.into(),
                    }),
                }
            }
            Some(s) => {
                let raw = s.strip_prefix("file:").unwrap_or(s);
                let path = expand_home(raw);
                let text =
                    std::fs::read_to_string(&path).map_err(|source| CredentialError::File {
                        dest: dest.into(),
                        path: path.clone(),
                        source,
                    })?;
                let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                if line.trim().is_empty() {
                    return Err(CredentialError::Empty {
                        dest: dest.into(),
                        path,
                    });
                }
                Ok(Some(Credentials::parse(line.trim())))
            }
            None => Ok(Self::from_env(&Self::default_env(dest))),
        }
    }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse_and_hide_the_secret() {
        let c = Credentials::parse("alice:s3cr:et\n");
        assert_eq!(c.username, "alice");
        assert_eq!(c.secret(), "s3cr:et");
        assert!(!format!("{c:?}").contains("s3cr"));
        let t = Credentials::parse("pypi-AgEIcHlwaS5vcmc");
        assert_eq!(t.username, "__token__");
        assert_eq!(
            Credentials::default_env("docker-hub"),
            "RELSIGN_PUBLISH_DOCKER_HUB"
        );
    }
}
