//! One small parallel map, for the places that hash or compress independent pieces.

/// Map `f` over `items` on up to `threads` threads (at least one); results in input order.
pub fn map<T: Sync, R: Send>(threads: usize, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let n = threads.min(items.len()).max(1);
    if n == 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                let r = f(&items[i]);
                *slots[i].lock().expect("slot") = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().expect("slot").expect("computed"))
        .collect()
}

/// The machine's parallelism.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    #[test]
    fn order_is_kept_on_any_thread_count() {
        let v: Vec<u64> = (0..1000).collect();
        for t in [1, 2, 7, 64] {
            assert_eq!(
                super::map(t, &v, |x| x * 3),
                v.iter().map(|x| x * 3).collect::<Vec<_>>()
            );
        }
        assert!(super::map(4, &Vec::<u8>::new(), |x| *x).is_empty());
    }
}
