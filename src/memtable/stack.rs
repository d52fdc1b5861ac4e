//! An append-only, lock-free list (a Treiber stack without pop).
//!
//! Nodes are pushed with a CAS on the head and never removed until the list is
//! dropped, so readers can walk it without a guard for as long as they hold the
//! list. Used for a memtable's tombstones.

use std::ptr;

use crate::sync::{AtomicPtr, AtomicUsize, Ordering};

struct Node<T> {
    item: T,
    next: *mut Node<T>,
}

/// Append-only lock-free list.
pub(crate) struct Stack<T> {
    head: AtomicPtr<Node<T>>,
    len: AtomicUsize,
}

// SAFETY: items are shared by reference between threads (`T: Sync`) and dropped
// by whoever drops the stack (`T: Send`); nodes are immutable once published.
unsafe impl<T: Send + Sync> Sync for Stack<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Send for Stack<T> {}

impl<T> Stack<T> {
    pub(crate) fn new() -> Self {
        Stack { head: AtomicPtr::new(ptr::null_mut()), len: AtomicUsize::new(0) }
    }

    pub(crate) fn push(&self, item: T) {
        let node = Box::into_raw(Box::new(Node { item, next: ptr::null_mut() }));
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `node` is ours until the CAS below publishes it.
            unsafe { (*node).next = head };
            // Release: the node's contents happen-before a reader that acquires it.
            match self.head.compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
        self.len.fetch_add(1, Ordering::Relaxed);
    }

    /// Approximate number of items (exact when no push is in flight).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Every published item, newest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        let mut p = self.head.load(Ordering::Acquire);
        std::iter::from_fn(move || {
            if p.is_null() {
                return None;
            }
            // SAFETY: published nodes live until the stack is dropped, and `&self`
            // keeps the stack alive; `next` was written before publication, which the
            // `Acquire` load of the head orders before this read.
            let node = unsafe { &*p };
            p = node.next;
            Some(&node.item)
        })
    }
}

impl<T> Drop for Stack<T> {
    fn drop(&mut self) {
        let mut p = self.head.load(Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: we own every node exclusively now; each is freed once.
            let node = unsafe { Box::from_raw(p) };
            p = node.next;
        }
    }
}
