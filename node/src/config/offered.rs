//! Which profiles a converter runs and which of them it advertises, given its ffmpeg's
//! encoders: the one rule the node (at start) and `dmc doctor` use.

use std::collections::HashSet;

use super::{ConverterConfig, Profile};
use crate::ffmpeg::{converter_profiles, MissingEncoder};

/// A converter's profiles with a given ffmpeg.
#[derive(Clone, Debug, PartialEq)]
pub struct ConverterProfiles {
    /// Every profile its ffmpeg can run: built-in ones whose encoder it has, then custom ones.
    pub runnable: Vec<&'static Profile>,
    /// What it advertises: of `runnable`, those `[converter] profiles` lists (all when empty)
    /// that convert one of its `media_types`.
    pub advertised: Vec<&'static Profile>,
}

impl ConverterConfig {
    /// This converter's profiles with an ffmpeg that has `encoders`; a custom profile whose
    /// encoder is missing is an error (the node refuses to start with it).
    pub fn profiles_with(
        &self,
        encoders: &HashSet<String>,
    ) -> Result<ConverterProfiles, MissingEncoder> {
        let runnable = converter_profiles(encoders, &self.custom_profiles)?;
        let advertised = runnable
            .iter()
            .copied()
            .filter(|p| self.profiles.is_empty() || self.profiles.iter().any(|w| w == p.name))
            .filter(|p| p.media_types.iter().any(|m| self.media_types.contains(m)))
            .collect();
        Ok(ConverterProfiles {
            runnable,
            advertised,
        })
    }
}
