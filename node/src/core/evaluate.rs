//! Whether a converter takes an item it was assigned: it must support the conversion, and its
//! work dir must have room for the job beside what its running jobs still need and the
//! `reserve_bytes` margin (the same measure decides when a queued job may start).

use std::future::Future;
use std::path::{Path, PathBuf};

use dmc_protocol::{ConverterAd, ItemState};

use super::layout::{free_space, job_dir};
use super::reserve::{self, JobKey, Reservations};
use crate::config::ConverterConfig;

/// Why this converter cannot run `item` at all, if it cannot: not a converter, not in its
/// advert, not runnable by its ffmpeg, or a custom profile for other media.
pub(crate) fn unsupported(
    advert: Option<&ConverterAd>,
    runnable_profiles: &[String],
    converter: &ConverterConfig,
    item: &ItemState,
) -> Option<String> {
    let Some(ad) = advert else {
        return Some("unsupported conversion: this node is not a converter".to_string());
    };
    ad.unsupported(item.offer.media_type, &item.offer.profile)
        .or_else(|| {
            (!runnable_profiles.contains(&item.offer.profile)).then(|| {
                format!(
                    "unsupported conversion: ffmpeg here cannot run profile `{}`",
                    item.offer.profile
                )
            })
        })
        .or_else(|| {
            // A custom profile's media types are known here, not in the advert.
            let p = converter.profile(&item.offer.profile)?;
            (!p.media_types.contains(&item.offer.media_type)).then(|| {
                format!(
                    "unsupported conversion: profile `{}` does not convert {}",
                    p.name, item.offer.media_type
                )
            })
        })
}

/// What is measured of the work dir for a disk decision: its free bytes and what the running
/// jobs still need beyond what they wrote.
type Measured = std::io::Result<(u64, u64)>;

/// Measures the work dir's free space and the outstanding need of `reservations` (job folder
/// and bytes reserved). Blocking.
fn measure(work_dir: &Path, reservations: &[(PathBuf, u64)]) -> Measured {
    let free = free_space(work_dir)?;
    let used: Vec<(u64, u64)> = reservations
        .iter()
        .map(|(dir, bytes)| (*bytes, reserve::disk_usage(dir)))
        .collect();
    Ok((free, reserve::outstanding(&used)))
}

/// The job folders and reservations of the running jobs other than `key`.
fn others(work_dir: &Path, reservations: &Reservations, key: &JobKey) -> Vec<(PathBuf, u64)> {
    reservations
        .others(key)
        .into_iter()
        .map(|((i, e), bytes)| (job_dir(work_dir, i, e), bytes))
        .collect()
}

/// Why the job `key` needing `need` bytes does not fit, if it does not: it needs them of the
/// work dir's free space less what the running jobs reserved and have not written yet, less
/// `margin` (`[converter] reserve_bytes`, kept free once).
fn refusal(measured: Measured, need: u64, margin: u64) -> Option<String> {
    match measured {
        Ok((free, outstanding)) => reserve::refusal(need, free, outstanding, margin),
        Err(e) => Some(format!(
            "insufficient disk: cannot read free space of the work dir: {e}"
        )),
    }
}

/// [`room_now`], measured off the core task: whether an assigned item would fit beside the
/// running jobs (queued jobs hold no room).
pub(crate) fn disk_refusal(
    work_dir: PathBuf,
    reservations: &Reservations,
    key: &JobKey,
    need: u64,
    margin: u64,
) -> impl Future<Output = Option<String>> {
    let others = others(&work_dir, reservations, key);
    async move {
        let measured = tokio::task::spawn_blocking(move || measure(&work_dir, &others))
            .await
            .ok()?;
        refusal(measured, need, margin)
    }
}

/// Why the job `key` needing `need` bytes does not fit beside the running jobs now, if it does
/// not (what its folder already holds, from before a restart, is not needed again). Blocking,
/// but cheap: one `statvfs` and the folders of the running jobs (at most `workers`); used when
/// a worker is free, to start the job only once its room is there.
pub(crate) fn room_now(
    work_dir: &Path,
    reservations: &Reservations,
    key: &JobKey,
    need: u64,
    margin: u64,
) -> Option<String> {
    let others = others(work_dir, reservations, key);
    let written = reserve::disk_usage(&job_dir(work_dir, key.0, key.1));
    refusal(
        measure(work_dir, &others),
        need.saturating_sub(written),
        margin,
    )
}
