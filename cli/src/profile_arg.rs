//! `--profile`: any name is accepted (converters may run custom profiles), while shell
//! completions offer the built-in profiles' names (`dmc profiles` lists every one).

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Arg, Command, Error};
use dmc_node::ffmpeg::profiles::BUILTIN_PROFILES;
use std::ffi::OsStr;

/// Parses a profile name as given; names the built-in profiles for completions.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProfileName;

impl TypedValueParser for ProfileName {
    type Value = String;

    fn parse_ref(&self, cmd: &Command, arg: Option<&Arg>, value: &OsStr) -> Result<String, Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            BUILTIN_PROFILES.iter().map(|p| PossibleValue::new(p.name)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn bash_completes_profile_names_and_any_name_is_accepted() {
        let mut cmd = crate::args::Cli::command();
        let mut buf = Vec::new();
        clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "dmc", &mut buf);
        let script = String::from_utf8(buf).unwrap();
        let offer = script.split("--profile)").nth(1).expect("a --profile case");
        let case = offer.split(";;").next().unwrap();
        assert!(case.contains("mkv-x265") && case.contains("webp"), "{case}");
        assert!(!case.contains("compgen -f"), "{case}");
    }
}
