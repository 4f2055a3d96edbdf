//! RFC 6962 Merkle tree hashing (SHA-256): leaf and node hashes, the tree hash of any range,
//! inclusion and consistency proofs (RFC 6962 §2.1.1 and §2.1.2, generated from any source of
//! full-subtree hashes) and their verification (RFC 9162 §2.1.3.2 and §2.1.4.2), and the
//! compact range (the right frontier of a tree) that appends leaves and yields the root.

use super::TlogError;
use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Full-subtree hashes: `node(height, index)` is MTH(D[index·2^height : (index+1)·2^height]).
pub trait Nodes {
    fn node(&mut self, height: u32, index: u64) -> Result<Hash, TlogError>;
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[start:end]) for a range whose start is aligned as RFC 6962's recursion makes it.
pub fn range_hash(n: &mut dyn Nodes, start: u64, end: u64) -> Result<Hash, TlogError> {
    let len = end - start;
    if len.is_power_of_two() && start % len == 0 {
        let h = len.trailing_zeros();
        return n.node(h, start >> h);
    }
    let k = split(len);
    let l = range_hash(n, start, start + k)?;
    let r = range_hash(n, start + k, end)?;
    Ok(node_hash(&l, &r))
}

/// The root of the tree of `size` leaves.
pub fn root(n: &mut dyn Nodes, size: u64) -> Result<Hash, TlogError> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(n, 0, size)
}

/// RFC 6962 PATH(index, D[0:size]): the leaf's sibling first, the root's child last.
pub fn inclusion_proof(n: &mut dyn Nodes, index: u64, size: u64) -> Result<Vec<Hash>, TlogError> {
    assert!(
        index < size,
        "inclusion proof of {index} in a tree of {size}"
    );
    let mut out = Vec::new();
    path(n, index, 0, size, &mut out)?;
    Ok(out)
}

fn path(
    n: &mut dyn Nodes,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), TlogError> {
    let len = end - start;
    if len <= 1 {
        return Ok(());
    }
    let k = split(len);
    if m < k {
        path(n, m, start, start + k, out)?;
        out.push(range_hash(n, start + k, end)?);
    } else {
        path(n, m - k, start + k, end, out)?;
        out.push(range_hash(n, start, start + k)?);
    }
    Ok(())
}

/// RFC 6962 PROOF(old, D[0:new]): that the tree of `new` leaves extends the one of `old`.
pub fn consistency_proof(n: &mut dyn Nodes, old: u64, new: u64) -> Result<Vec<Hash>, TlogError> {
    assert!(old <= new, "consistency proof from {old} to {new}");
    let mut out = Vec::new();
    if old > 0 && old < new {
        subproof(n, old, 0, new, true, &mut out)?;
    }
    Ok(out)
}

fn subproof(
    n: &mut dyn Nodes,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), TlogError> {
    let len = end - start;
    if m == len {
        if !whole {
            out.push(range_hash(n, start, end)?);
        }
        return Ok(());
    }
    let k = split(len);
    if m <= k {
        subproof(n, m, start, start + k, whole, out)?;
        out.push(range_hash(n, start + k, end)?);
    } else {
        subproof(n, m - k, start + k, end, false, out)?;
        out.push(range_hash(n, start, start + k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.3.2: does `proof` place `leaf` at `index` in the tree of `size` with `root`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show that the tree of `new` leaves with `new_root` extends
/// the tree of `old` leaves with `old_root`? Equal sizes need an empty proof and equal roots;
/// the empty tree is extended by any tree (its root must be the empty root).
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && fr == *old_root && sr == *new_root
}

/// The right frontier of a tree: the hashes of its maximal full subtrees, left to right.
/// Appending leaves and taking the root gives RFC 6962's tree hash.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    /// (height, hash), heights strictly decreasing.
    stack: Vec<(u32, Hash)>,
    size: u64,
}

impl Frontier {
    /// The frontier of the tree of `size` leaves, read from `n`.
    pub fn at(n: &mut dyn Nodes, size: u64) -> Result<Frontier, TlogError> {
        let mut stack = Vec::new();
        let mut start = 0u64;
        for h in (0..64u32).rev() {
            if size & (1u64 << h) != 0 {
                stack.push((h, n.node(h, start >> h)?));
                start += 1u64 << h;
            }
        }
        Ok(Frontier { stack, size })
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn push(&mut self, leaf: Hash) {
        self.stack.push((0, leaf));
        self.size += 1;
        while self.stack.len() >= 2 {
            let (h2, r) = self.stack[self.stack.len() - 1];
            let (h1, l) = self.stack[self.stack.len() - 2];
            if h1 != h2 {
                break;
            }
            self.stack.truncate(self.stack.len() - 2);
            self.stack.push((h1 + 1, node_hash(&l, &r)));
        }
    }
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some((_, last)) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, (_, l)| node_hash(l, &acc))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every full-subtree hash of a list of leaves, computed directly.
    pub(crate) struct Leaves(pub Vec<Hash>);
    impl Nodes for Leaves {
        fn node(&mut self, height: u32, index: u64) -> Result<Hash, TlogError> {
            let w = 1usize << height;
            let s = index as usize * w;
            Ok(mth(&self.0[s..s + w]))
        }
    }

    /// RFC 6962 MTH, straight from its recursive definition.
    pub(crate) fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn roots_frontier_and_proofs_agree_with_the_definition() {
        let all = leaves(70);
        for size in 0..=all.len() as u64 {
            let l = &all[..size as usize];
            let want = mth(l);
            let mut src = Leaves(l.to_vec());
            assert_eq!(root(&mut src, size).unwrap(), want, "root {size}");
            let mut f = Frontier::default();
            l.iter().for_each(|h| f.push(*h));
            assert_eq!(f.root(), want, "frontier {size}");
            for start in 0..=size {
                let mut g = Frontier::at(&mut src, start).unwrap();
                l[start as usize..].iter().for_each(|h| g.push(*h));
                assert_eq!(g.root(), want, "frontier {start} → {size}");
            }
            for i in 0..size {
                let p = inclusion_proof(&mut src, i, size).unwrap();
                assert!(verify_inclusion(i, size, &l[i as usize], &p, &want));
                assert!(!verify_inclusion(i, size, &leaf_hash(b"other"), &p, &want));
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(
                        !verify_inclusion(i, size, &l[i as usize], &bad, &want),
                        "{first:?}"
                    );
                }
            }
            for old in 0..=size {
                let p = consistency_proof(&mut src, old, size).unwrap();
                let old_root = mth(&l[..old as usize]);
                assert!(
                    verify_consistency(old, size, &p, &old_root, &want),
                    "{old} → {size}"
                );
                if old > 0 && old < size {
                    let mut bad = old_root;
                    bad[3] ^= 1;
                    assert!(!verify_consistency(old, size, &p, &bad, &want));
                    let mut forged = p.clone();
                    forged.last_mut().unwrap()[0] ^= 1;
                    assert!(!verify_consistency(old, size, &forged, &old_root, &want));
                }
            }
        }
    }

    #[test]
    fn known_answer_from_rfc6962_test_vectors() {
        // The empty root and the tree of the single empty leaf, as the Certificate
        // Transparency test vectors give them.
        assert_eq!(
            crate::digest::hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            crate::digest::hex(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }
}
