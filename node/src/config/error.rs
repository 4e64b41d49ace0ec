//! Why a configuration was refused: [`ConfigError`] names the file, line and key at fault;
//! [`Fault`] is a field-level problem before it is given its file and line.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::CONFIG_FILE_NAME;

/// Why a configuration was refused. Messages name the file, line and key, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "config file {} does not exist; create it, or drop --config / DMC_CONFIG to use \
         <data-dir>/{CONFIG_FILE_NAME} or the built-in defaults",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error("cannot read config file {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}", Located { file: file.as_deref(), line: *line, key: key.as_deref(), message })]
    Invalid {
        /// The file at fault; `None` for the built-in defaults.
        file: Option<PathBuf>,
        line: Option<usize>,
        /// Dotted key, e.g. `converter.workers`.
        key: Option<String>,
        message: String,
    },
    #[error("cannot find a home directory for `~`: HOME is not set; set HOME or pass --data-dir")]
    NoHome,
    /// More than one problem in the file: each an [`ConfigError::Invalid`], one a line.
    #[error("{} problems in the configuration:\n{}", problems.len(), lines(problems))]
    Several { problems: Vec<ConfigError> },
}

impl ConfigError {
    /// One error for `problems`: itself when it is the only one.
    pub(super) fn all(mut problems: Vec<ConfigError>) -> ConfigError {
        if problems.len() == 1 {
            problems.remove(0)
        } else {
            ConfigError::Several { problems }
        }
    }
}

fn lines(problems: &[ConfigError]) -> String {
    let v: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    v.join("\n")
}

struct Located<'a> {
    file: Option<&'a Path>,
    line: Option<usize>,
    key: Option<&'a str>,
    message: &'a str,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.file {
            Some(file) => write!(f, "{}", file.display())?,
            None => f.write_str("built-in configuration")?,
        }
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A field-level problem before it is given its file and line.
pub(super) struct Fault {
    pub(super) key: &'static str,
    /// The element of an array at fault, if one is.
    pub(super) index: Option<usize>,
    pub(super) message: String,
}

pub(super) fn fault(key: &'static str, index: Option<usize>, message: impl Into<String>) -> Fault {
    Fault {
        key,
        index,
        message: message.into(),
    }
}
