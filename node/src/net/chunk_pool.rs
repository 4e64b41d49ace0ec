//! A small process-wide pool of chunk buffers: the codec reads chunk responses into them, the
//! file reader of a serving node fills them, and whoever is done with one (the writer of a
//! pull, the codec after sending) gives it back. Reusing them saves zeroing and page-faulting
//! a fresh megabyte per chunk. Bounded: at most [`MAX_POOLED`] buffers are kept.

use std::sync::Mutex;

use dmc_protocol::wire::MAX_RESPONSE_BYTES;

/// Buffers kept for reuse; more are freed. Enough for the chunks in flight of a pull and of
/// the chunks being served at once.
pub const MAX_POOLED: usize = 32;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A buffer of exactly `len` bytes. Its contents are unspecified (left over from an earlier
/// chunk, or zero): the caller overwrites all of them.
pub fn take(len: usize) -> Vec<u8> {
    let reused = {
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        pool.iter()
            .rposition(|b| b.capacity() >= len)
            .map(|i| pool.swap_remove(i))
    };
    match reused {
        Some(mut buf) => {
            // Only bytes never written before are zeroed (a short last chunk grown back).
            if buf.len() >= len {
                buf.truncate(len);
            } else {
                buf.resize(len, 0);
            }
            buf
        }
        None => vec![0u8; len],
    }
}

/// Gives a buffer back for reuse; dropped if the pool is full or it is too small or too big to
/// be worth keeping.
pub fn give(buf: Vec<u8>) {
    if buf.capacity() < 64 << 10 || buf.capacity() > MAX_RESPONSE_BYTES {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    if pool.len() < MAX_POOLED {
        pool.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_with_the_asked_length() {
        let mut a = take(1 << 20);
        a.iter_mut().for_each(|b| *b = 7);
        give(a);
        let b = take(1000 << 10);
        assert_eq!(b.len(), 1000 << 10);
        give(b);
        let c = take(1 << 20);
        assert_eq!(c.len(), 1 << 20);
        // Tiny buffers are not kept, and the pool never holds more than its bound.
        give(vec![0u8; 10]);
        for _ in 0..(MAX_POOLED + 5) {
            give(vec![0u8; 1 << 16]);
        }
        assert!(POOL.lock().unwrap().len() <= MAX_POOLED);
        give(c);
    }
}
