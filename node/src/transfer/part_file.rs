//! The `.part` file of a pull: which of its chunks are already good, verified chunk writes,
//! and the final truncate and fsync. Blocking functions.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use dmc_protocol::record::chunk_count;

/// Length of chunk `index` of a file of `size` bytes.
pub(crate) fn chunk_len(size: u64, chunk_size: u32, index: u64) -> usize {
    let offset = index * chunk_size as u64;
    size.saturating_sub(offset).min(chunk_size as u64) as usize
}

/// Expected hash of chunk `index` in a manifest.
pub(crate) fn expected_hash(hashes: &[u8], index: u64) -> &[u8] {
    let at = index as usize * 32;
    hashes.get(at..at + 32).unwrap_or(&[])
}

/// Marks each chunk already present in `part` whose bytes match the manifest.
pub(crate) fn verify_existing(
    part: &File,
    size: u64,
    chunk_size: u32,
    hashes: &[u8],
    mut progress: impl FnMut(u64),
) -> io::Result<Vec<bool>> {
    let n = chunk_count(size, chunk_size);
    let mut have = vec![false; n as usize];
    let part_len = part.metadata()?.len();
    let mut buf = vec![0u8; chunk_size as usize];
    let mut good: u64 = 0;
    for (i, slot) in have.iter_mut().enumerate() {
        let i = i as u64;
        let len = chunk_len(size, chunk_size, i);
        if i * chunk_size as u64 + len as u64 > part_len {
            break;
        }
        let data = &mut buf[..len];
        part.read_exact_at(data, i * chunk_size as u64)?;
        if blake3::hash(data).as_bytes() == expected_hash(hashes, i) {
            *slot = true;
            good += len as u64;
            progress(good);
        }
    }
    Ok(have)
}

/// Writes chunk `index` if `data` matches its manifest hash; says whether it did.
pub(crate) fn write_verified(
    part: &File,
    size: u64,
    chunk_size: u32,
    index: u64,
    expected: &[u8],
    data: &[u8],
) -> io::Result<bool> {
    if data.len() != chunk_len(size, chunk_size, index) || blake3::hash(data).as_bytes() != expected
    {
        return Ok(false);
    }
    part.write_all_at(data, index * chunk_size as u64)?;
    Ok(true)
}

/// Gives the file its exact size and flushes it to disk.
pub(crate) fn finish(part: &File, size: u64) -> io::Result<()> {
    part.set_len(size)?;
    part.sync_all()
}
