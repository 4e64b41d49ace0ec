//! The origin's side of a finished item: fetch the result into the output folder, verify it
//! (its SHA-512, then ffprobe against the profile, as the converter did), and name it without
//! overwriting anything. What every delivery shares comes in a
//! [`DeliverEnv`] built once when the core starts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dmc_protocol::wire::FileRole;
use dmc_protocol::{Epoch, FileInfo, ItemId, NodeId};
use libp2p::PeerId;
use tokio::sync::mpsc;

use super::files::{copy_new, create_new, sha512_regular};
use super::layout::delivery_part;
use super::msg::Internal;
use super::names::{rename_noreplace, safe_file_name, sync_dir, unique_path};
use super::spread::SegmentTarget;
use crate::ffmpeg::{self, Profile};
use crate::net::NetClient;
use crate::store::Store;
use crate::transfer;

/// How many names a delivery tries for its `.part`, and for the result when others take the
/// free name it found first, before it gives up (and is tried again later).
const MAX_NAME_TRIES: u32 = 64;

/// What every delivery of this node needs: built once at start.
pub(crate) struct DeliverEnv {
    pub(crate) output_dir: PathBuf,
    pub(crate) pull_options: transfer::PullOptions,
    pub(crate) net: NetClient,
    pub(crate) store: Store,
    /// Where deliveries report progress and how they ended.
    pub(crate) internal: mpsc::Sender<Internal>,
}

/// Why a delivery did not end with the result in the output folder.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeliverFailure {
    /// A passing problem (peer away, disk, a race on a name): try again later.
    #[error("{0}")]
    Retry(String),
    /// The result is not what the offer's profile promises (this node's own ffprobe says so):
    /// it never enters the output folder, and its attempt counts as failed (the item is
    /// retried elsewhere).
    #[error("{0}")]
    Refused(String),
    /// This node cannot check any result of the item (its profile is no longer defined
    /// here): the item fails for good, as no other converter's result would do better.
    #[error("{0}")]
    Uncheckable(String),
    /// The converter answered that the result is gone (deleted, or lost in a crash): it is
    /// recorded as lost and the item is converted again.
    #[error("{0}")]
    Lost(String),
}

impl From<String> for DeliverFailure {
    fn from(why: String) -> Self {
        DeliverFailure::Retry(why)
    }
}

/// One delivery: the result of an item's attempt `epoch`, made by `converter`.
pub(crate) struct Delivery {
    pub(crate) env: Arc<DeliverEnv>,
    pub(crate) item_id: ItemId,
    pub(crate) epoch: Epoch,
    pub(crate) converter: NodeId,
    pub(crate) result: FileInfo,
    /// The result on this node, when this node converted it.
    pub(crate) local_result: Option<PathBuf>,
    /// The offer's profile as this node defines it (`None`: no longer defined here).
    pub(crate) profile: Option<&'static Profile>,
    /// The profile's name, for messages.
    pub(crate) profile_name: String,
    /// The source's duration as this node probed it when offering.
    pub(crate) source_duration_ms: Option<u64>,
    /// The source's size in bytes: bounds the result this node will take ([`result_size_limit`]).
    pub(crate) source_size: u64,
    /// Set for a segment's sub-item: the result goes there, into its job's segment store,
    /// checked by its frame count, instead of into the output folder.
    pub(crate) segment: Option<SegmentTarget>,
}

/// Slack above four times the source that a result may take (container overhead of tiny
/// sources, a lossless audio track).
const RESULT_SLACK_BYTES: u64 = 256 << 20;

/// The largest result this origin takes for a source of `source_size` bytes: four times the
/// source plus 256 MiB. No profile makes that much of a source (even a converter's
/// `allow_larger` output is a re-encode of it), so a converter claiming more is refused
/// before a byte is written, whatever free space this node has.
pub(crate) fn result_size_limit(source_size: u64) -> u64 {
    source_size
        .saturating_mul(4)
        .saturating_add(RESULT_SLACK_BYTES)
}

impl Delivery {
    /// Delivers and reports how it went.
    pub(crate) async fn run(self) {
        let outcome = self.work().await;
        let _ = self
            .env
            .internal
            .send(Internal::DeliverDone {
                item_id: self.item_id,
                epoch: self.epoch,
                outcome,
            })
            .await;
    }

    /// The output path and SHA-512, or why it must be tried again or was refused.
    async fn work(&self) -> Result<(String, String), DeliverFailure> {
        if let Some(path) = self.delivered_before().await {
            return Ok((path, self.result.sha512.clone()));
        }
        if let Some(target) = &self.segment {
            return self.deliver_segment(target).await;
        }
        let output_dir = &self.env.output_dir;
        tokio::fs::create_dir_all(output_dir)
            .await
            .map_err(|e| format!("cannot create output dir {}: {e}", output_dir.display()))?;
        let limit = result_size_limit(self.source_size);
        if self.result.file_size > limit {
            // Before any byte is written: no fetch of this attempt will ever be taken.
            return Err(DeliverFailure::Refused(format!(
                "result of {} bytes is larger than this node takes for a source of {} bytes \
                 (at most {limit})",
                self.result.file_size, self.source_size
            )));
        }
        let part = blocking(choose_part(output_dir.clone(), self.item_id, self.epoch)).await?;
        let fetched = match &self.local_result {
            Some(src) => copy_own_result(src, &part, &self.result.sha512).await,
            // Every chunk was checked with BLAKE3 against the manifest whose hash the
            // converter signed in its `Converted` record: the file is the one it hashed, and
            // reading it again for its SHA-512 would only cost time.
            None => self.pull_result(&part).await,
        };
        if let Err(e) = fetched {
            if matches!(e, DeliverFailure::Lost(_)) {
                // Nothing to resume: this attempt's result will never come.
                let _ = tokio::fs::remove_file(&part).await;
            }
            return Err(e);
        }
        if let Err(e) = self.check_result(&part).await {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
        let final_path = self.move_into_place(&part).await?;
        Ok((
            final_path.to_string_lossy().into_owned(),
            self.result.sha512.clone(),
        ))
    }

    /// Fetches a segment's result into `target` (through `target.part`), checked to hold the
    /// cut's frames; a kept segment already there counts.
    async fn deliver_segment(
        &self,
        target: &SegmentTarget,
    ) -> Result<(String, String), DeliverFailure> {
        let limit = result_size_limit(self.source_size);
        if self.result.file_size > limit {
            return Err(DeliverFailure::Refused(format!(
                "encoded segment of {} bytes is larger than this node takes for a cut of {} \
                 bytes (at most {limit})",
                self.result.file_size, self.source_size
            )));
        }
        let part = segment_part(&target.path);
        // The store's own partial file, of an earlier try, gives way to a new one.
        let _ = tokio::fs::remove_file(&part).await;
        let p = part.clone();
        blocking(move || {
            create_new(&p)
                .map(|_| ())
                .map_err(|e| format!("cannot create {}: {e}", p.display()))
        })
        .await?;
        let fetched = match &self.local_result {
            Some(src) => copy_own_result(src, &part, &self.result.sha512).await,
            None => self.pull_result(&part).await,
        };
        if let Err(e) = fetched {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
        if !ffmpeg::segment_holds(&part, target.frames).await {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(DeliverFailure::Refused(format!(
                "the encoded segment does not hold the {} frames of its cut",
                target.frames
            )));
        }
        let t = target.path.to_string_lossy().into_owned();
        self.env
            .store
            .record_delivery_target(self.item_id, self.epoch, t.clone())
            .await
            .map_err(|e| format!("cannot record delivery: {e}"))?;
        let (from, to) = (part.clone(), target.path.clone());
        let moved = tokio::task::spawn_blocking(move || {
            rename_noreplace(&from, &to)?;
            sync_dir(to.parent().unwrap_or(Path::new(".")))
        })
        .await
        .map_err(|e| e.to_string())?;
        match moved {
            Ok(()) => Ok((t, self.result.sha512.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = tokio::fs::remove_file(&part).await;
                match ffmpeg::segment_holds(&target.path, target.frames).await {
                    true => Ok((t, self.result.sha512.clone())),
                    false => Err(DeliverFailure::Retry(format!(
                        "{t} is taken by a segment without its cut's frames"
                    ))),
                }
            }
            Err(e) => Err(DeliverFailure::Retry(format!(
                "cannot move the segment into place: {e}"
            ))),
        }
    }

    /// Checks the fetched result in `part` with this node's own ffprobe (see [`check_result`]).
    async fn check_result(&self, part: &Path) -> Result<(), DeliverFailure> {
        let offered = Offered {
            profile: self.profile,
            profile_name: &self.profile_name,
            source_duration_ms: self.source_duration_ms,
        };
        check_result(part, &offered, &self.converter).await
    }

    /// Where a previous run put the result, if it renamed it into place and stopped before
    /// recording it.
    async fn delivered_before(&self) -> Option<String> {
        let store = &self.env.store;
        if let Ok(Some(path)) = store.delivery_target(self.item_id, self.epoch).await {
            let p = PathBuf::from(&path);
            let expected = self.result.sha512.clone();
            let ok = tokio::task::spawn_blocking(move || sha512_regular(&p))
                .await
                .ok()
                .and_then(|r| r.ok())
                .is_some_and(|s| s == expected);
            if ok {
                return Some(path);
            }
        }
        None
    }

    /// Pulls the result from its converter into `part`; a converter that answers that the
    /// result is gone gives [`DeliverFailure::Lost`].
    async fn pull_result(&self, part: &Path) -> Result<(), DeliverFailure> {
        let peer: PeerId = self
            .converter
            .as_str()
            .parse()
            .map_err(|_| format!("converter id `{}` is not a peer id", self.converter))?;
        let internal = self.env.internal.clone();
        let item_id = self.item_id;
        transfer::pull::pull_file_with(
            &self.env.net,
            transfer::RemoteFile {
                peer,
                item_id: self.item_id,
                role: FileRole::Result,
                epoch: self.epoch,
            },
            &self.result,
            part,
            &self.env.pull_options,
            move |done, total| {
                let fraction = if total == 0 {
                    1.0
                } else {
                    done as f64 / total as f64
                };
                let _ = internal.try_send(Internal::DeliverProgress { item_id, fraction });
            },
        )
        .await
        .map_err(|e| match e {
            transfer::PullError::Gone(why) => DeliverFailure::Lost(format!(
                "converter {} no longer has the result of attempt {}: {why}",
                self.converter, self.epoch
            )),
            e => DeliverFailure::Retry(format!("fetching the result: {e}")),
        })?;
        Ok(())
    }

    /// Renames the verified `part` to a free name in the output dir, never overwriting.
    async fn move_into_place(&self, part: &Path) -> Result<PathBuf, String> {
        let store = &self.env.store;
        let name = safe_file_name(&self.result.file_name);
        let dir = self.env.output_dir.clone();
        for _ in 0..MAX_NAME_TRIES {
            let target = unique_path(&dir, &name);
            // Remember where it goes before it gets there, so a crash in between cannot
            // deliver it twice.
            let t = target.to_string_lossy().into_owned();
            store
                .record_delivery_target(self.item_id, self.epoch, t)
                .await
                .map_err(|e| format!("cannot record delivery: {e}"))?;
            let (from, to, d) = (part.to_path_buf(), target.clone(), dir.clone());
            let moved = tokio::task::spawn_blocking(move || {
                rename_noreplace(&from, &to)?;
                sync_dir(&d)
            })
            .await
            .map_err(|e| e.to_string())?;
            match moved {
                Ok(()) => return Ok(target),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("cannot move the result into place: {e}")),
            }
        }
        Err(format!(
            "no free name for {name} in {} after {MAX_NAME_TRIES} tries",
            dir.display()
        ))
    }
}

/// The partial file of a segment delivered to `target`.
fn segment_part(target: &Path) -> PathBuf {
    let mut part = target.as_os_str().to_owned();
    part.push(".part");
    PathBuf::from(part)
}

/// What the origin offered, that a result is checked against.
pub(crate) struct Offered<'a> {
    /// The offer's profile as this node defines it (`None`: no longer defined here).
    pub(crate) profile: Option<&'static Profile>,
    pub(crate) profile_name: &'a str,
    /// The source's duration as this node probed it when offering.
    pub(crate) source_duration_ms: Option<u64>,
}

/// Checks a fetched result in `part` against the offer's profile with this node's own
/// ffprobe, by the rule the converter applies to its output (`ffmpeg::verify_output`):
/// container, codecs, and a duration close to the source's. A converter's word that its
/// output passed is not enough: a result that fails is [`DeliverFailure::Refused`].
pub(crate) async fn check_result(
    part: &Path,
    offered: &Offered<'_>,
    converter: &NodeId,
) -> Result<(), DeliverFailure> {
    let name = offered.profile_name;
    let refused = |why: String| {
        DeliverFailure::Refused(format!(
            "it is not what profile `{name}` promises ({why}); converter {converter} made \
             it and this node's ffprobe checked it"
        ))
    };
    let Some(profile) = offered.profile else {
        // No result of any converter could pass here: ending the item beats converting it
        // again and again.
        return Err(DeliverFailure::Uncheckable(format!(
            "result not delivered: profile `{name}` is no longer defined on this node, so no \
             result can be checked"
        )));
    };
    let opts = ffmpeg::VerifyOptions {
        mode: ffmpeg::VerifyMode::Probe,
        // The converter's `allow_larger` is its own to set.
        source_size: None,
        allow_larger: true,
        cancel: ffmpeg::CancelToken::new(),
    };
    match ffmpeg::verify_output(part, profile, offered.source_duration_ms, &opts).await {
        Ok(_) => Ok(()),
        Err(e @ (ffmpeg::FfmpegError::OutputCheck(_) | ffmpeg::FfmpegError::BadOutput { .. })) => {
            Err(refused(e.to_string()))
        }
        // ffprobe missing, a local I/O error, a hung disk: not the result's fault.
        Err(e) => Err(DeliverFailure::Retry(format!("checking the result: {e}"))),
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

/// The `.part` of (item, epoch) in `dir`: the first of its names (see [`delivery_part`]) that
/// is free, or a regular file (a leftover of ours, which a pull resumes). A symlink or any
/// other thing there is not ours: it is skipped, never followed, written or removed. A free
/// name is created at once, with `O_EXCL | O_NOFOLLOW`.
fn choose_part(
    dir: PathBuf,
    item_id: ItemId,
    epoch: Epoch,
) -> impl FnOnce() -> Result<PathBuf, String> {
    move || {
        for n in 0..MAX_NAME_TRIES {
            let part = delivery_part(&dir, item_id, epoch, n);
            match std::fs::symlink_metadata(&part) {
                Ok(m) if m.file_type().is_file() => return Ok(part),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => match create_new(&part) {
                    Ok(_) => return Ok(part),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(format!("cannot create {}: {e}", part.display())),
                },
                Err(e) => return Err(format!("cannot check {}: {e}", part.display())),
            }
        }
        Err(format!(
            "no free name for the result's .part in {} after {MAX_NAME_TRIES} tries",
            dir.display()
        ))
    }
}

/// Copies the result this node made to `dst`, hashing it as it is copied; a result no
/// longer there, or no longer the one it made (`sha512`), is [`DeliverFailure::Lost`], as a
/// converter's answer that it is gone would be.
async fn copy_own_result(src: &Path, dst: &Path, sha512: &str) -> Result<(), DeliverFailure> {
    match tokio::fs::symlink_metadata(src).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DeliverFailure::Lost(format!(
            "this node's result {} is gone",
            src.display()
        ))),
        _ => match copy_synced(src, dst).await.map_err(DeliverFailure::Retry)? {
            copied if copied == sha512 => Ok(()),
            // Changed since it was hashed: no fetch will bring it back.
            _ => Err(DeliverFailure::Lost(format!(
                "this node's result {} changed since it was made",
                src.display()
            ))),
        },
    }
}

/// Copies the result this node made to `dst` (a regular file: emptied first) and fsyncs it,
/// never through a link; returns the SHA-512 of what it copied.
async fn copy_synced(src: &Path, dst: &Path) -> Result<String, String> {
    let (src, dst) = (src.to_path_buf(), dst.to_path_buf());
    blocking(move || {
        // `dst` was just found to be a regular file of ours; removing a name never follows it.
        std::fs::remove_file(&dst).map_err(|e| format!("removing {}: {e}", dst.display()))?;
        copy_new(&src, &dst).map_err(|e| format!("copying the result: {e}"))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs ffmpeg with lavfi inputs to make a test file.
    fn make(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
        let out = dir.join(name);
        let ok = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args(args)
            .arg(&out)
            .status()
            .expect("run ffmpeg")
            .success();
        assert!(ok, "ffmpeg could not make {name}");
        out
    }

    /// Issue 13, point 3: the origin checks a result with its own ffprobe before it counts. A
    /// converter whose check was skipped or lied (here: an audio-only file, and a video of the
    /// wrong length, for an mkv-x264 offer of a 2 s clip) is refused, not delivered.
    #[tokio::test]
    async fn the_origin_refuses_a_result_that_is_not_what_the_profile_promises() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let converter = NodeId::new("12D3KooWconverter");
        let offered = Offered {
            profile: crate::ffmpeg::builtin_profile("mkv-x264"),
            profile_name: "mkv-x264",
            source_duration_ms: Some(2000),
        };
        let video = |name: &str, secs: &str| {
            let v = format!("testsrc=duration={secs}:size=160x120:rate=25");
            let a = format!("sine=duration={secs}");
            make(
                d,
                name,
                &[
                    "-f", "lavfi", "-i", &v, "-f", "lavfi", "-i", &a, "-c:v", "libx264",
                ]
                .into_iter()
                .chain(["-preset", "ultrafast", "-c:a", "libopus", "-f", "matroska"])
                .collect::<Vec<_>>(),
            )
        };
        let good = video("good.mkv.part", "2");
        check_result(&good, &offered, &converter).await.unwrap();

        let audio_only = make(
            d,
            "audio.mkv.part",
            &["-f", "lavfi", "-i", "sine=duration=2", "-f", "matroska"],
        );
        let long = video("long.mkv.part", "6");
        let text = d.join("text.mkv.part");
        std::fs::write(&text, "not media at all").unwrap();
        for (bad, why) in [
            (
                &audio_only,
                "expected video codec h264, found no video stream",
            ),
            (&long, "expected a duration of 2000 ms"),
            (&text, "ffprobe cannot read the output"),
        ] {
            match check_result(bad, &offered, &converter).await {
                Err(DeliverFailure::Refused(m)) => {
                    assert!(m.contains(why) && m.contains("mkv-x264"), "{m}")
                }
                other => panic!("{}: {other:?}", bad.display()),
            }
        }
        let unknown = Offered {
            profile: None,
            ..offered
        };
        assert!(matches!(
            check_result(&good, &unknown, &converter).await,
            Err(DeliverFailure::Uncheckable(m)) if m.contains("no longer defined")
        ));
    }
}
