//! Finding and reading the configuration: `--config FILE`, else `<data-dir>/config.toml`,
//! else the built-in defaults (what an empty file gives).

use std::io;
use std::path::{Path, PathBuf};

use super::defaults::{node::OUTPUT_DIR_WITHOUT_HOME, DATA_DIR_UNDER_HOME};
use super::parse::parse;
use super::paths::home_dir;
use super::raw::RawConfig;
use super::resolve::resolve;
use super::span::SpanIndex;
use super::{Config, ConfigError, CONFIG_FILE_NAME};

/// Largest configuration file read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

impl Config {
    /// Loads the configuration: `explicit` (`--config FILE`) if given, which must exist; else
    /// `<data_dir>/config.toml` if it exists; else the built-in defaults.
    pub fn load(data_dir: &Path, explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(p) => {
                if !exists(p)? {
                    return Err(ConfigError::Missing {
                        path: p.to_path_buf(),
                    });
                }
                p.to_path_buf()
            }
            None => {
                let p = data_dir.join(CONFIG_FILE_NAME);
                if !exists(&p)? {
                    return Ok(Config::default_for(data_dir));
                }
                p
            }
        };
        let text = read_bounded(&path)?;
        Config::from_toml(data_dir, &text, Some(&path))
    }

    /// Parses and validates `text` as if read from `file` (used in errors).
    pub fn from_toml(
        data_dir: &Path,
        text: &str,
        file: Option<&Path>,
    ) -> Result<Config, ConfigError> {
        let index = SpanIndex::new(text);
        let invalid = |line, key, message| ConfigError::Invalid {
            file: file.map(Path::to_path_buf),
            line,
            key,
            message,
        };
        let raw = parse(text).map_err(|errors| {
            ConfigError::all(
                errors
                    .iter()
                    .map(|e| {
                        let (line, key) = match e.span() {
                            Some(span) => {
                                (Some(index.line_of(span.start)), index.key_at(span.start))
                            }
                            None => (None, None),
                        };
                        invalid(line, key, e.message().trim().to_string())
                    })
                    .collect(),
            )
        })?;
        let home = home_dir();
        resolve(raw, data_dir, file, home.as_deref()).map_err(|faults| {
            ConfigError::all(
                faults
                    .into_iter()
                    .map(|f| {
                        let line = index.line_of_key(f.key, f.index);
                        invalid(line, Some(f.key.to_string()), f.message)
                    })
                    .collect(),
            )
        })
    }

    /// The built-in defaults for a node whose data directory is `data_dir`: what an empty file
    /// gives. Should HOME be unset, results go to `<data_dir>/converted` instead of
    /// `~/dmc/converted`.
    pub fn default_for(data_dir: &Path) -> Config {
        let home = home_dir();
        let mut raw = RawConfig::default();
        if home.is_none() {
            tracing::warn!(
                "HOME is not set: results go to {}/{OUTPUT_DIR_WITHOUT_HOME}",
                data_dir.display()
            );
            raw.node.output_dir = OUTPUT_DIR_WITHOUT_HOME.into();
        }
        // Every input is a constant of `defaults`, a usable host name (or `dmc-node`) and a
        // path joined to `data_dir`, so this cannot fail; `config::tests` and
        // `defaults::tests` load the defaults on every run.
        resolve(raw, data_dir, None, home.as_deref()).unwrap_or_else(|f| {
            panic!(
                "built-in default `{}` is invalid: {}",
                f[0].key, f[0].message
            )
        })
    }
}

/// The default data directory, `~/.local/share/dmc`.
pub fn default_data_dir() -> Result<PathBuf, ConfigError> {
    let home = home_dir().ok_or(ConfigError::NoHome)?;
    Ok(home.join(DATA_DIR_UNDER_HOME))
}

fn exists(p: &Path) -> Result<bool, ConfigError> {
    match std::fs::metadata(p) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ConfigError::Read {
            path: p.to_path_buf(),
            source,
        }),
    }
}

fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_file() {
        return Err(read_err(io::Error::other("not a regular file")));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(read_err(io::Error::other(format!(
            "larger than {MAX_CONFIG_BYTES} bytes; is this really a dmc config file?"
        ))));
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    String::from_utf8(bytes).map_err(|_| {
        read_err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not UTF-8 text; TOML files are UTF-8",
        ))
    })
}
