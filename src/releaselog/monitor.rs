//! `relsign log monitor`: walk a log from the last monitored checkpoint to its current one,
//! list every release signature logged since, and flag each one made by a key the policy does
//! not (or no longer) trust. This is how a maintainer notices a release they did not make.
//!
//! The walk is bound to the signed checkpoints: the frontier of the last monitored tree is
//! read from the tiles and must hash to its recorded root (else the log was rewritten), the
//! new entries are appended to it from the entry bundles, and the result must hash to the
//! current checkpoint's root (else an entry or tile was changed).

use crate::policy::CheckedPolicy;
use crate::time;
use crate::tlog::check::{self, Seen};
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::entry::{AdvisoryEntry, Entry};
use crate::tlog::merkle::{self, Frontier};
use crate::tlog::note::NoteKey;
use crate::tlog::tiles::{self, Source, TileNodes, TILE_WIDTH};
use crate::tlog::{refused, writer, TlogError, CHECK_FORK, CHECK_LOG, CHECK_ROLLBACK};

/// The kind of a Rekor-style `dsse` leaf (see [`crate::tlog::rekor`]).
pub const SIGSTORE_DSSE: &str = "sigstore-dsse";

#[derive(Debug, Clone, serde::Serialize)]
pub struct MonitoredEntry {
    pub index: u64,
    /// `release-signature`, `advisory` (then `name` is the advisory id and `version` its
    /// subject) or `sigstore-dsse` (the Sigstore record of the signature before it: `keyid`
    /// and `provenance_sha256` only).
    pub kind: String,
    pub name: String,
    pub version: String,
    pub keyid: String,
    pub signed_on: String,
    pub provenance_sha256: String,
    /// None: signed by a key the policy trusts at that time; else why not.
    pub alert: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MonitorReport {
    pub origin: String,
    pub from: u64,
    pub to: u64,
    pub root: String,
    pub consistency: String,
    pub entries: Vec<MonitoredEntry>,
    pub alerts: usize,
}

/// Why a release signature by `e.keyid` (logged at `index`) is not trusted by the policy, if
/// it is not.
fn judge_key(e: &Entry, index: u64, pol: &CheckedPolicy) -> Option<String> {
    let v = pol.doc.version;
    for (a, date) in pol.key_advisories(&e.keyid) {
        if e.signed_on >= date || a.log_index.is_some_and(|at| index > at) {
            return Some(format!(
                "key {} is revoked by {} (signed at {}, logged at index {index})",
                e.keyid,
                a.describe(),
                time::format(e.signed_on)
            ));
        }
    }
    let Some(k) = pol.release_key(&e.keyid) else {
        return Some(format!(
            "key {} is not a release key of policy version {v}",
            e.keyid
        ));
    };
    if pol.key_revoked(&e.keyid) {
        return Some(format!("key {} is revoked by policy version {v}", e.keyid));
    }
    if e.signed_on < k.not_before || e.signed_on > k.not_after {
        return Some(format!(
            "signed at {}, outside key {}'s window {} .. {} (policy version {v})",
            time::format(e.signed_on),
            e.keyid,
            time::format(k.not_before),
            time::format(k.not_after)
        ));
    }
    None
}

/// Walk the log at `src` (key `key`, trusted as `pol` says) from `monitored` (the last
/// checkpoint whose entries were all trusted; none: from the start), checking the current
/// checkpoint against `last` (the last one seen, by verify or a monitor).
pub fn monitor(
    src: &Source,
    key: &NoteKey,
    pol: &CheckedPolicy,
    last: Option<&Seen>,
    monitored: Option<&Checkpoint>,
) -> Result<(MonitorReport, Checkpoint), TlogError> {
    let judged = check::judge(last, &[], Some(src), key)?;
    let cur = judged.record.expect("judge records the log's checkpoint");
    let start = monitored.map(|m| m.size).unwrap_or(0);
    if start > cur.size {
        return Err(refused(
            CHECK_ROLLBACK,
            format!(
                "{}: size {}, older than the size {start} monitored before: the log was rolled back",
                src.describe(tiles::CHECKPOINT),
                cur.size
            ),
        ));
    }
    let mut nodes = TileNodes::new(src, cur.size);
    let mut frontier = Frontier::at(&mut nodes, start)?;
    if let Some(m) = monitored {
        if frontier.root() != m.root {
            return Err(refused(
                CHECK_FORK,
                format!(
                    "{}: its first {start} entries no longer hash to the root {} monitored before: \
                     the log was rewritten",
                    src.describe("tile/"),
                    m.root_b64()
                ),
            ));
        }
    }
    let mut entries = Vec::new();
    for b in start / TILE_WIDTH..cur.size.div_ceil(TILE_WIDTH) {
        let bundle = tiles::read_bundle(src, b, cur.size)?;
        let leaves: Vec<merkle::Hash> = bundle.iter().map(|e| merkle::leaf_hash(e)).collect();
        if nodes.tile(0, b)? != leaves.as_slice() {
            return Err(refused(
                CHECK_LOG,
                format!(
                    "{}: the hashes of the entries in {} are not the ones this tile holds",
                    src.describe(&tiles::tile_path(0, b, leaves.len() as u64)),
                    src.describe(&tiles::bundle_path(b, leaves.len() as u64))
                ),
            ));
        }
        for (i, bytes) in bundle.iter().enumerate() {
            let index = b * TILE_WIDTH + i as u64;
            if index < start {
                continue;
            }
            frontier.push(leaves[i]);
            entries.push(describe(index, bytes, pol));
        }
    }
    audit_upper_tiles(&mut nodes, start, cur.size, src)?;
    if frontier.root() != cur.root {
        return Err(refused(
            CHECK_LOG,
            format!(
                "{}: entries {start}..{} do not hash to the checkpoint's root {}: an entry bundle or \
                 tile was changed",
                src.describe("tile/entries/"),
                cur.size,
                cur.root_b64()
            ),
        ));
    }
    let alerts = entries.iter().filter(|e| e.alert.is_some()).count();
    Ok((
        MonitorReport {
            origin: cur.origin.clone(),
            from: start,
            to: cur.size,
            root: cur.root_b64(),
            consistency: judged.detail,
            entries,
            alerts,
        },
        cur,
    ))
}

/// Each full tile at a level that holds the hash of a new entry's ancestor must hash to its
/// entry in the tile above: with the level-0 tiles checked against the entries and the
/// frontier against the root, every hash of the tiles the new entries touch is then bound.
fn audit_upper_tiles(
    nodes: &mut TileNodes,
    start: u64,
    size: u64,
    src: &Source,
) -> Result<(), TlogError> {
    for level in 0..7u32 {
        let count = size >> (8 * level);
        let first = (start >> (8 * level)) / TILE_WIDTH;
        for t in first..count / TILE_WIDTH {
            let h = tiles::subtree(nodes.tile(level, t)?);
            let above = nodes.tile(level + 1, t / TILE_WIDTH)?[(t % TILE_WIDTH) as usize];
            if h != above {
                return Err(refused(
                    CHECK_LOG,
                    format!(
                        "{}: its tree hash is not hash {} of the tile above",
                        src.describe(&tiles::tile_path(level, t, TILE_WIDTH)),
                        t % TILE_WIDTH
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn describe(index: u64, bytes: &[u8], pol: &CheckedPolicy) -> MonitoredEntry {
    if let Ok(a) = AdvisoryEntry::parse(bytes) {
        let known = pol
            .doc
            .advisories
            .iter()
            .any(|p| p.id == a.id && p.digest() == a.advisory);
        return MonitoredEntry {
            index,
            kind: "advisory".into(),
            name: a.id,
            version: a.subject,
            keyid: String::new(),
            signed_on: time::format(a.date),
            provenance_sha256: a.advisory.to_string(),
            alert: (!known).then(|| {
                "an advisory the policy does not carry (yet): sign the policy version that \
                 adds it, or find out who logged it"
                    .to_string()
            }),
        };
    }
    if let Ok((keyid, payload)) = crate::tlog::rekor::parse_dsse_body(bytes) {
        // The Sigstore record of a signature (the leaf after relsign's entry): the key must be
        // a release key of the policy, not revoked, and not named by an advisory logged before.
        let v = pol.doc.version;
        let alert = if pol.release_key(&keyid).is_none() {
            Some(format!(
                "key {keyid} is not a release key of policy version {v}"
            ))
        } else if pol.key_revoked(&keyid) {
            Some(format!("key {keyid} is revoked by policy version {v}"))
        } else {
            pol.key_advisories(&keyid)
                .into_iter()
                .find(|(a, _)| a.log_index.is_some_and(|at| index > at))
                .map(|(a, _)| format!("key {keyid} is revoked by {}, logged before", a.describe()))
        };
        return MonitoredEntry {
            index,
            kind: SIGSTORE_DSSE.into(),
            name: String::new(),
            version: String::new(),
            keyid,
            signed_on: String::new(),
            provenance_sha256: payload,
            alert,
        };
    }
    match Entry::parse(bytes) {
        Ok(e) => MonitoredEntry {
            index,
            kind: crate::tlog::entry::KIND_SIGNATURE.into(),
            alert: judge_key(&e, index, pol),
            name: e.name,
            version: e.version,
            signed_on: time::format(e.signed_on),
            provenance_sha256: e.provenance.to_string(),
            keyid: e.keyid,
        },
        Err(why) => MonitoredEntry {
            index,
            kind: String::new(),
            name: String::new(),
            version: String::new(),
            keyid: String::new(),
            signed_on: String::new(),
            provenance_sha256: crate::digest::Sha256Hex::of(bytes).to_string(),
            alert: Some(format!("not a relsign log entry: {why}")),
        },
    }
}

/// The log's current checkpoint, verified (for `relsign log show`).
pub fn current(src: &Source, key: &NoteKey) -> Result<Checkpoint, TlogError> {
    let (_, v) = writer::read_checkpoint(src, &key.key)?;
    Ok(v.checkpoint)
}
