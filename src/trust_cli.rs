//! The keys, signing, trust policy and verification commands (issue 4): their arguments and
//! help text. What they do is in `cmd::{key, sign, revoke, policy, verify}`.

use crate::args::{LogAppendArgs, PassArgs};
use clap::{Args, Subcommand};
use relsign::time;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Ed25519 signing keys: generate a key pair, show a key id.
    ///
    /// Examples:
    ///   relsign key generate --out ~/.config/relsign/alice
    ///   relsign key show ~/.config/relsign/alice.pub
    #[command(verbatim_doc_comment)]
    Key {
        #[command(subcommand)]
        cmd: KeyCommand,
    },
    /// Sign a release directory: the SLSA provenance (DSSE) and Sigstore bundles.
    ///
    /// The first signature creates attestations/provenance.dsse.json; a later `sign` with
    /// another key adds its signature to the same envelope (co-signing, t-of-n). Every
    /// signature also gets Sigstore bundles: one for the provenance, one per artifact file.
    ///
    /// The passphrase comes from --passphrase-fd, --passphrase-file, $RELSIGN_PASSPHRASE or
    /// a prompt on the terminal, in that order.
    ///
    /// Examples:
    ///   relsign sign target/demo/release --key ~/.config/relsign/alice.key
    ///   relsign sign target/demo/release --key bob.key --passphrase-fd 3 3<bob.pass
    ///   relsign sign target/demo/release --key alice.key --log log/ --log-key log.key
    #[command(verbatim_doc_comment)]
    Sign(SignArgs),
    /// Keyless signing of a release, signed with keys or not: an ephemeral key, a Fulcio
    /// certificate for the OIDC token's identity, and everything `relsign sign` signs (the
    /// provenance, each file artifact's publish statement, the test-result, vulnerability and
    /// SBOM statements) signed (DSSE) and logged in Rekor; one Sigstore bundle each under
    /// attestations/keyless/. On an unsigned release it writes the provenance statement (a
    /// keyless-only release). Verify checks them, and counts each as a signer like a release
    /// key, when the policy names keyless identities (`relsign policy add-identity`).
    ///
    /// The token comes from --token-file or $SIGSTORE_ID_TOKEN; the Fulcio and Rekor URLs
    /// from the flags or $RELSIGN_FULCIO_URL and $RELSIGN_REKOR_URL (no default: relsign
    /// names no public instance).
    ///
    /// Examples:
    ///   SIGSTORE_ID_TOKEN=$(cat token.jwt) relsign sign-keyless target/demo/release \
    ///       --fulcio-url https://fulcio.example.org --rekor-url https://rekor.example.org
    ///   relsign sign-keyless target/demo/release --token-file token.jwt \
    ///       --fulcio-url http://127.0.0.1:8080 --rekor-url http://127.0.0.1:8080
    #[command(verbatim_doc_comment)]
    SignKeyless(KeylessArgs),
    /// Publish an advisory: a release key compromised, or a release withdrawn, from a date on,
    /// with the reason and a URL for details. It is logged in the transparency log (with
    /// --log) and added to the policy as a new version, which root keys then sign.
    ///
    /// Verify then refuses the release, or a signature by the key made (by its signing time)
    /// on or after the date or logged after the advisory, naming the advisory; the monitor
    /// flags such signatures. `relsign policy revoke` instead revokes a key for all time.
    ///
    /// Examples:
    ///   relsign revoke keys --key alice.pub --reason "key stolen" \
    ///       --url https://example.org/advisories/1 --log log --log-key log.key
    ///   relsign policy sign keys --key root.key
    ///   relsign revoke keys --release relsign-demo@0.1.0 --reason "built from a bad tag" --url …
    #[command(verbatim_doc_comment)]
    Revoke(RevokeArgs),
    /// The trust policy in keys/: root keys, release keys, thresholds, revocations.
    ///
    /// Examples:
    ///   relsign policy init keys --root-key alice-root.pub --release-key alice.pub
    ///   relsign policy sign keys --key alice-root.key
    ///   relsign policy revoke keys --key bob.pub && relsign policy sign keys --key alice-root.key
    #[command(verbatim_doc_comment)]
    Policy {
        #[command(subcommand)]
        cmd: PolicyCommand,
    },
    /// Verify an artifact, a release directory or an OCI layout against the trust policy.
    ///
    /// Checks: each file's sha256 equals its provenance subject; the provenance is signed by
    /// enough release keys (threshold), valid at the statement's signing time and not revoked;
    /// the policy chain is valid and not expired; the claims match --expect-*; the release is
    /// not older than one accepted before (--state). An image layout's index.json names only
    /// the signed manifest, and its config and layers are present with their sizes and
    /// digests. The SBOM attestations and, when the signed provenance says the release has a
    /// gate, a passing test result are signed. Every file of a release directory is covered
    /// by a signature, else it is refused (--no-strict lists such files as notes).
    ///
    /// Exit codes: 0 verified; 1 refused (the message names the failed check); 2 error.
    ///
    /// Examples:
    ///   relsign verify target/demo/release --policy target/demo/keys
    ///   relsign verify dist/relsign_demo-0.1.0-py3-none-any.whl --expect-version 0.1.0
    ///   relsign verify docker://127.0.0.1:5000/relsign/demo:0.1.0 --policy keys
    #[command(verbatim_doc_comment)]
    Verify(VerifyArgs),
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate an Ed25519 key pair: PREFIX.key (encrypted, mode 0600) and PREFIX.pub.
    ///
    /// The private key is PKCS#8 encrypted with PBES2 (scrypt, AES-256-CBC) under the
    /// passphrase. The public key is PEM "PUBLIC KEY" (SPKI), which cosign can load.
    ///
    /// Examples:
    ///   relsign key generate --out ~/.config/relsign/alice
    #[command(verbatim_doc_comment)]
    Generate {
        /// Path prefix: writes PREFIX.key and PREFIX.pub.
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Print a public key's id: base64(SHA-256(DER SPKI)).
    ///
    /// Examples:
    ///   relsign key show alice.pub
    #[command(verbatim_doc_comment)]
    Show {
        /// A public key file (PEM "PUBLIC KEY").
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Create version 1 of a policy (unsigned: then `relsign policy sign` with root keys).
    ///
    /// Examples:
    ///   relsign policy init keys --root-key alice-root.pub --root-key bob-root.pub \
    ///       --root-threshold 2 --release-key alice.pub --release-key bob.pub \
    ///       --provenance-threshold 2 --artifact-threshold 1
    #[command(verbatim_doc_comment)]
    Init(PolicyInitArgs),
    /// Add a release key (or a root key) to the policy, as a new unsigned version.
    ///
    /// Examples:
    ///   relsign policy add-key keys carol.pub && relsign policy sign keys --key alice-root.key
    ///   relsign policy add-key keys carol-root.pub --root
    #[command(verbatim_doc_comment)]
    AddKey {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// The public key file.
        key: PathBuf,
        /// Add it as a root key instead of a release key.
        #[arg(long)]
        root: bool,
        #[command(flatten)]
        window: Window,
    },
    /// Remove a release or root key (by key id or public key file).
    ///
    /// Examples:
    ///   relsign policy remove-key keys bob.pub
    #[command(verbatim_doc_comment)]
    RemoveKey {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// The key: its key id, or its public key file.
        key: String,
    },
    /// Revoke a key (by key id or public key file) or a release (NAME@VERSION). A revoked key's
    /// signatures no longer count, whenever they were made: the response to a compromised key.
    ///
    /// Examples:
    ///   relsign policy revoke keys --key bob.pub && relsign policy sign keys --key alice-root.key
    ///   relsign policy revoke keys --release relsign-demo@0.1.0
    #[command(verbatim_doc_comment)]
    Revoke {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// The key to revoke: its key id or public key file.
        #[arg(long, value_name = "KEYID|PUB")]
        key: Option<String>,
        /// The release to revoke, as NAME@VERSION.
        #[arg(long, value_name = "NAME@VERSION")]
        release: Option<String>,
    },
    /// Change thresholds or the expiry time.
    ///
    /// Examples:
    ///   relsign policy set keys --provenance-threshold 2 --expires 2027-12-31T00:00:00Z
    #[command(verbatim_doc_comment)]
    Set {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// Root signatures a new policy version needs (of this version's and the previous one's roots).
        #[arg(long)]
        root_threshold: Option<u32>,
        /// Release-key signatures the provenance needs.
        #[arg(long)]
        provenance_threshold: Option<u32>,
        /// Release-key signatures each artifact file's bundles need (0: the provenance binds them).
        #[arg(long)]
        artifact_threshold: Option<u32>,
        /// When the policy expires (RFC 3339); verification refuses it afterwards.
        #[arg(long, value_name = "RFC3339")]
        expires: Option<String>,
    },
    /// Sign the newest policy version with a root key (of this version or the previous one).
    ///
    /// Examples:
    ///   relsign policy sign keys --key ~/.config/relsign/alice-root.key
    #[command(verbatim_doc_comment)]
    Sign {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// A root key (encrypted PEM, mode 0600).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Name the transparency log of releases: its origin and Ed25519 public key; with
    /// --required, verify refuses a release whose signatures are not in the log.
    ///
    /// Examples:
    ///   relsign policy set-log keys --origin example.org/relsign-log --key log.pub --required
    #[command(verbatim_doc_comment)]
    SetLog {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// The log's origin: the first line of its checkpoints and its note key name.
        #[arg(long)]
        origin: String,
        /// The log's public key file (PEM "PUBLIC KEY", Ed25519).
        #[arg(long, value_name = "PUB")]
        key: PathBuf,
        /// Every counted release signature must carry a proof of inclusion in the log.
        #[arg(long)]
        required: bool,
    },
    /// Add a keyless identity (OIDC issuer and subject, matched exactly against the Fulcio
    /// certificate's issuer extension and SAN) and, with --trusted-root, set the Sigstore
    /// trusted root (CAs and transparency-log keys) keyless signatures must chain to. A
    /// keyless signature by an identity counts toward the thresholds like a release key's
    /// signature; unless --not-required, verify also requires a keyless bundle for the
    /// provenance and each file artifact.
    ///
    /// Examples:
    ///   relsign policy add-identity keys --issuer https://issuer.example.org \
    ///       --subject release@example.org --trusted-root trusted_root.json
    ///   # keyless signatures count, key-only releases still verify:
    ///   relsign policy add-identity keys --issuer https://issuer.example.org \
    ///       --subject release@example.org --not-required
    #[command(verbatim_doc_comment)]
    AddIdentity {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
        /// The OIDC issuer URL.
        #[arg(long)]
        issuer: String,
        /// The subject: the certificate's SAN (an e-mail address or URI).
        #[arg(long)]
        subject: String,
        /// The Sigstore trusted root JSON (needed the first time).
        #[arg(long, value_name = "FILE")]
        trusted_root: Option<PathBuf>,
        /// Keyless signatures count toward the thresholds but are not required (the section's
        /// `required = false`); without it the section requires them.
        #[arg(long)]
        not_required: bool,
    },
    /// Show the newest policy version and its signing status.
    ///
    /// Examples:
    ///   relsign policy show keys
    ///   relsign --json policy show keys
    #[command(verbatim_doc_comment)]
    Show {
        /// The policy directory (keys/: policy/1.json, 2.json, …).
        dir: PathBuf,
    },
}

/// `relsign sign-keyless`'s arguments.
#[derive(Debug, Args, Clone)]
pub struct KeylessArgs {
    /// The release directory: made by `relsign release` (signed with keys, or not signed),
    /// or by `relsign build` then `relsign test` and `relsign sbom`.
    pub release: PathBuf,
    #[command(flatten)]
    pub service: KeylessService,
}

/// Where keyless signing gets its certificate and logs its signatures, and the identity token.
#[derive(Debug, Args, Clone, Default)]
pub struct KeylessService {
    /// The Fulcio base URL (else $RELSIGN_FULCIO_URL).
    #[arg(long, value_name = "URL")]
    pub fulcio_url: Option<String>,
    /// The Rekor base URL (else $RELSIGN_REKOR_URL).
    #[arg(long, value_name = "URL")]
    pub rekor_url: Option<String>,
    /// A file holding the OIDC identity token (else $SIGSTORE_ID_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct Window {
    /// Start of the release keys' validity window (RFC 3339) [default: now].
    #[arg(long, value_name = "RFC3339")]
    not_before: Option<String>,
    /// End of the release keys' validity window (RFC 3339) [default: two years from now].
    #[arg(long, value_name = "RFC3339")]
    not_after: Option<String>,
}

impl Window {
    pub fn resolve(&self) -> (String, String) {
        let now = time::now();
        (
            self.not_before.clone().unwrap_or_else(|| time::format(now)),
            self.not_after
                .clone()
                .unwrap_or_else(|| time::format(now + 2 * 366 * 86_400)),
        )
    }
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The release directory (built, gated, with SBOMs).
    pub release: PathBuf,
    /// The encrypted private key (PEM "ENCRYPTED PRIVATE KEY", mode 0600).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    #[command(flatten)]
    pub pass: PassArgs,
    /// The signing time recorded in a new statement [default: now]. Self-asserted:
    /// release-key validity windows are judged at this time.
    #[arg(long, value_name = "RFC3339")]
    pub signing_time: Option<String>,
    #[command(flatten)]
    pub log: LogAppendArgs,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The policy directory (keys/: policy/1.json, 2.json, …).
    pub dir: PathBuf,
    /// The compromised release key: its key id or public key file.
    #[arg(
        long,
        value_name = "KEYID|PUB",
        conflicts_with = "release",
        required_unless_present = "release"
    )]
    pub key: Option<String>,
    /// The withdrawn release, as NAME@VERSION.
    #[arg(long, value_name = "NAME@VERSION")]
    pub release: Option<String>,
    /// Why.
    #[arg(long)]
    pub reason: String,
    /// Where to read more.
    #[arg(long)]
    pub url: String,
    /// From when (RFC 3339) [default: now].
    #[arg(long, value_name = "RFC3339")]
    pub date: Option<String>,
    /// The advisory's id [default: RELSIGN-ADV-<date>-<n>].
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub log: LogAppendArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// An artifact file (release.json and attestations/ beside it), a release directory,
    /// an OCI layout inside a release directory, or a registry reference
    /// (docker://host/repo:tag; credentials from $RELSIGN_REGISTRY_CREDENTIALS).
    pub target: PathBuf,
    /// The trust policy directory (with policy/1.json …).
    #[arg(long, value_name = "DIR", default_value = "keys")]
    pub policy: PathBuf,
    /// A source the provenance must name: its location, digest, or location@digest.
    #[arg(long, value_name = "SOURCE")]
    pub expect_source: Vec<String>,
    /// The version the release must have.
    #[arg(long, value_name = "VERSION")]
    pub expect_version: Option<String>,
    /// Accept a release older than the last one accepted.
    #[arg(long)]
    pub allow_downgrade: bool,
    /// The last-seen state file [default: $RELSIGN_STATE, else
    /// $XDG_STATE_HOME/relsign/last-seen.json, else ~/.local/state/relsign/last-seen.json].
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Do not read or update the last-seen state (no rollback protection).
    #[arg(long, conflicts_with = "state")]
    pub no_state: bool,
    /// List files of the release directory that no signature covers as notes instead of
    /// refusing them (the default for a release directory is to refuse: exit 1).
    #[arg(long)]
    pub no_strict: bool,
    /// The transparency log (a directory or URL): the checkpoints of the release's proofs
    /// and the last one seen must be consistent with its current checkpoint (a fork or a
    /// rollback is exit 1).
    #[arg(long, value_name = "DIR|URL")]
    pub log: Option<String>,
}

#[derive(Debug, Args)]
pub struct PolicyInitArgs {
    /// The policy directory (keys/: policy/1.json, 2.json, …).
    pub dir: PathBuf,
    /// A root key's public key file (repeatable).
    #[arg(long, value_name = "PUB", required = true)]
    pub root_key: Vec<PathBuf>,
    #[arg(long, default_value_t = 1)]
    pub root_threshold: u32,
    /// A release key's public key file (repeatable).
    #[arg(long, value_name = "PUB")]
    pub release_key: Vec<PathBuf>,
    #[command(flatten)]
    pub window: Window,
    /// Release keys that must sign the provenance.
    #[arg(long, default_value_t = 1)]
    pub provenance_threshold: u32,
    /// Release keys that must sign each artifact file (0: not required).
    #[arg(long, default_value_t = 1)]
    pub artifact_threshold: u32,
    /// The policy is refused after this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub expires: Option<String>,
    /// Mark the policy as test-only (demo and test keys).
    #[arg(long)]
    pub test_only: bool,
}
