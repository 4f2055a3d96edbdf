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

/// Produce a result for each of `items` on up to `threads` threads, never more than `ahead`
/// items beyond the one being consumed, and hand them to `consume` on the calling thread in
/// input order: the next items are prepared while the current one is used. The first error of
/// `consume` stops the producers and is returned.
pub fn ordered<T: Sync, R: Send, E>(
    threads: usize,
    items: &[T],
    ahead: usize,
    produce: impl Fn(&T) -> R + Sync,
    mut consume: impl FnMut(usize, R) -> Result<(), E>,
) -> Result<(), E> {
    use std::sync::{Condvar, Mutex};
    struct State<R> {
        claimed: usize,
        consumed: usize,
        slots: Vec<Option<R>>,
        stop: bool,
    }
    let ahead = ahead.max(1);
    let state = Mutex::new(State {
        claimed: 0,
        consumed: 0,
        slots: items.iter().map(|_| None).collect(),
        stop: false,
    });
    let changed = Condvar::new();
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = {
                    let mut st = lock();
                    while !st.stop && st.claimed < items.len() && st.claimed >= st.consumed + ahead
                    {
                        st = changed.wait(st).unwrap_or_else(|e| e.into_inner());
                    }
                    if st.stop || st.claimed >= items.len() {
                        return;
                    }
                    st.claimed += 1;
                    st.claimed - 1
                };
                let r = produce(&items[i]);
                lock().slots[i] = Some(r);
                changed.notify_all();
            });
        }
        let mut result = Ok(());
        for i in 0..items.len() {
            let r = {
                let mut st = lock();
                let r = loop {
                    if let Some(r) = st.slots[i].take() {
                        break r;
                    }
                    st = changed.wait(st).unwrap_or_else(|e| e.into_inner());
                };
                st.consumed = i + 1;
                r
            };
            changed.notify_all();
            if let Err(e) = consume(i, r) {
                result = Err(e);
                break;
            }
        }
        lock().stop = true;
        changed.notify_all();
        result
    })
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

    #[test]
    fn ordered_consumes_in_order_within_the_window_and_stops_on_error() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let v: Vec<usize> = (0..500).collect();
        for (t, ahead) in [(1, 1), (2, 3), (8, 2), (3, 64)] {
            let consumed = AtomicUsize::new(0);
            let mut seen = Vec::new();
            super::ordered(
                t,
                &v,
                ahead,
                |&x| {
                    // Never produced further ahead than the window allows.
                    assert!(x < consumed.load(Ordering::SeqCst) + ahead + 1, "{x}");
                    x * 2
                },
                |i, r| {
                    consumed.store(i + 1, Ordering::SeqCst);
                    seen.push(r);
                    Ok::<(), ()>(())
                },
            )
            .unwrap();
            assert_eq!(seen, v.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
        let produced = AtomicUsize::new(0);
        let e = super::ordered(
            2,
            &v,
            4,
            |&x| {
                produced.fetch_add(1, Ordering::SeqCst);
                x
            },
            |i, _| if i == 10 { Err(i) } else { Ok(()) },
        );
        assert_eq!(e, Err(10));
        assert!(
            produced.load(Ordering::SeqCst) <= 10 + 1 + 4,
            "stopped near the error"
        );
        super::ordered(2, &Vec::<u8>::new(), 4, |x| *x, |_, _| Ok::<(), ()>(())).unwrap();
    }
}
