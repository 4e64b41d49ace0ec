//! Whether a converter takes an item it was assigned: it must support the conversion, and its
//! work dir must have room for the job beside what its other accepted jobs still need.

use std::future::Future;
use std::path::PathBuf;

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

/// Why the job `key` needing `need` bytes does not fit, if it does not: it needs them of the
/// work dir's free space less what the other accepted jobs reserved and have not written yet.
/// Measured off the core task.
pub(crate) fn disk_refusal(
    work_dir: PathBuf,
    reservations: &Reservations,
    key: &JobKey,
    need: u64,
) -> impl Future<Output = Option<String>> {
    let others: Vec<(PathBuf, u64)> = reservations
        .others(key)
        .into_iter()
        .map(|((i, e), bytes)| (job_dir(&work_dir, i, e), bytes))
        .collect();
    async move {
        let measured = tokio::task::spawn_blocking(move || {
            let free = free_space(&work_dir)?;
            let used: Vec<(u64, u64)> = others
                .iter()
                .map(|(dir, bytes)| (*bytes, reserve::disk_usage(dir)))
                .collect();
            Ok::<_, std::io::Error>((free, reserve::outstanding(&used)))
        })
        .await
        .ok()?;
        match measured {
            Ok((free, outstanding)) => reserve::refusal(need, free, outstanding),
            Err(e) => Some(format!(
                "insufficient disk: cannot read free space of the work dir: {e}"
            )),
        }
    }
}
