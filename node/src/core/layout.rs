//! Where dmc keeps things on disk: the job folders of the work dir and the files in them, the
//! `.dmc-*.part` files it writes (deliveries in the output dir, moves of watched sources),
//! and how free space is measured. Every path rule of those folders is here, so the jobs, the
//! deliveries and the clean-ups agree on them.

use std::path::{Path, PathBuf};

use dmc_protocol::{Epoch, ItemId};

/// A job's fetched source in its folder, once verified.
const SOURCE: &str = "source";
/// A job's source while it is fetched (kept across restarts: the fetch resumes).
const SOURCE_PART: &str = "source.part";
/// What separates the item from the source's hash in a segment store's name.
const SEGMENT_STORE: &str = ".seg-";
/// The suffix of every file still being written.
const PART: &str = ".part";

/// The folder of one job: `<work_dir>/<item_id>.<epoch>`.
pub(crate) fn job_dir(work_dir: &Path, item_id: ItemId, epoch: Epoch) -> PathBuf {
    work_dir.join(format!("{item_id}.{epoch}"))
}

/// The (item, epoch) a work-dir entry belongs to, if it is a job folder.
pub(crate) fn parse_job_dir(name: &str) -> Option<(ItemId, Epoch)> {
    let (item, epoch) = name.rsplit_once('.')?;
    Some((ItemId::parse(item)?, epoch.parse().ok()?))
}

/// The segment store of an item converted in segments: `<work_dir>/<item_id>.seg-<hex>`, with
/// the first 16 hex digits of its source's BLAKE3 (known from the offer on, unlike a SHA-512
/// that follows it), so a changed source never reuses segments.
/// It outlives the item's jobs (a restart keeps its checkpoints) and is removed once the item
/// has ended ([`parse_segment_store`]).
pub(crate) fn segment_store(work_dir: &Path, item_id: ItemId, source_blake3: &str) -> PathBuf {
    let hex: String = source_blake3
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .take(16)
        .collect();
    work_dir.join(format!("{item_id}{SEGMENT_STORE}{hex}"))
}

/// The item a work-dir entry is the segment store of.
pub(crate) fn parse_segment_store(name: &str) -> Option<ItemId> {
    let (item, hex) = name.split_once(SEGMENT_STORE)?;
    hex.bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then(|| ItemId::parse(item))?
}

/// The verified source fetched into job folder `dir`.
pub(crate) fn source_path(dir: &Path) -> PathBuf {
    dir.join(SOURCE)
}

/// The source being fetched into job folder `dir`.
pub(crate) fn source_part_path(dir: &Path) -> PathBuf {
    dir.join(SOURCE_PART)
}

/// The result of a job in folder `dir` for a profile writing `extension`, and the `.part`
/// ffmpeg writes it to first.
pub(crate) fn result_paths(dir: &Path, extension: &str) -> (PathBuf, PathBuf) {
    let name = format!("result.{extension}");
    (dir.join(format!("{name}{PART}")), dir.join(name))
}

/// Whether a file in a job folder is a partial output, gone stale when its job stopped (a
/// source being fetched is not: its fetch resumes).
pub(crate) fn is_partial_output(file_name: &str) -> bool {
    file_name.ends_with(PART) && file_name != SOURCE_PART
}

/// The file a delivery writes into the output dir before it gets its final name:
/// `.dmc-<item>-<epoch>.part` (`n` = 0), or `.dmc-<item>-<epoch>.<n>.part` when the names
/// before it are taken by something that is not a regular file (not ours: never followed,
/// written or removed).
pub(crate) fn delivery_part(output_dir: &Path, item_id: ItemId, epoch: Epoch, n: u32) -> PathBuf {
    if n == 0 {
        output_dir.join(format!(".dmc-{item_id}-{epoch}{PART}"))
    } else {
        output_dir.join(format!(".dmc-{item_id}-{epoch}.{n}{PART}"))
    }
}

/// The (item, epoch) of a delivery's `.dmc-<item>-<epoch>[.<n>].part`.
pub(crate) fn parse_delivery_part(name: &str) -> Option<(ItemId, Epoch)> {
    let inner = name.strip_prefix(".dmc-")?.strip_suffix(PART)?;
    let inner = match inner.split_once('.') {
        Some((inner, n)) if n.parse::<u32>().is_ok() => inner,
        Some(_) => return None,
        None => inner,
    };
    let (item, epoch) = inner.rsplit_once('-')?;
    Some((ItemId::parse(item)?, epoch.parse().ok()?))
}

/// The copy a move across file systems writes first into `dir` (the `after_delivery` of a
/// watched folder), hidden and named like every file dmc is still writing, so no watch offers
/// it.
pub(crate) fn move_part(dir: &Path) -> PathBuf {
    dir.join(format!(".dmc-move-{}{PART}", uuid::Uuid::new_v4()))
}

/// The copy `dmc fetch` writes first into the destination's folder `dir`, hidden and named
/// like every file dmc is still writing.
pub(crate) fn fetch_part(dir: &Path) -> PathBuf {
    dir.join(format!(".dmc-fetch-{}{PART}", uuid::Uuid::new_v4()))
}

/// Free bytes for an unprivileged writer on the filesystem holding `dir` (created if missing).
pub(crate) fn free_space(dir: &Path) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let id = ItemId::from_random([7; 16]);
        let dir = job_dir(Path::new("/w"), id, 3);
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap();
        assert_eq!(parse_job_dir(name), Some((id, 3)));
        let part = delivery_part(Path::new("/out"), id, 12, 0);
        assert_eq!(part, Path::new("/out").join(format!(".dmc-{id}-12.part")));
        let name = part.file_name().and_then(|n| n.to_str()).unwrap();
        assert_eq!(parse_delivery_part(name), Some((id, 12)));
        let other = delivery_part(Path::new("/out"), id, 12, 3);
        assert_eq!(
            other,
            Path::new("/out").join(format!(".dmc-{id}-12.3.part"))
        );
        let name = other.file_name().and_then(|n| n.to_str()).unwrap();
        assert_eq!(parse_delivery_part(name), Some((id, 12)));
        assert_eq!(parse_delivery_part(&format!(".dmc-{id}-12.x.part")), None);
        let (part, done) = result_paths(&dir, "mkv");
        assert_eq!(done, dir.join("result.mkv"));
        assert_eq!(part, dir.join("result.mkv.part"));
        assert!(is_partial_output("result.mkv.part"));
        assert!(!is_partial_output("source.part"));
        assert!(!is_partial_output("source"));
        let store = segment_store(Path::new("/w"), id, "0123456789abcdef0123");
        assert_eq!(
            store,
            Path::new("/w").join(format!("{id}.seg-0123456789abcdef"))
        );
        let name = store.file_name().and_then(|n| n.to_str()).unwrap();
        assert_eq!(parse_segment_store(name), Some(id));
        // Never taken for a job folder, so the start-up clean-up leaves it alone.
        assert_eq!(parse_job_dir(name), None);
        assert_eq!(parse_segment_store(&format!("{id}.3")), None);
    }
}
