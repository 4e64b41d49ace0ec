//! Command-line arguments of `dmc` (clap derive).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use dmc_node::control::api::{DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, MAX_LIST_OFFSET};

/// `--limit`: 1 to the node's most items on a page.
fn limit_parser() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=i64::from(MAX_LIST_LIMIT))
}

/// `--offset`: 0 to the largest offset the node accepts.
fn offset_parser() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(0..=MAX_LIST_OFFSET)
}

/// dmc: peer-to-peer media conversion for the LAN.
#[derive(Debug, Parser)]
#[command(name = "dmc", version, about, propagate_version = true)]
pub struct Cli {
    /// The node's data dir (store, identity, control socket) [default: $HOME/.local/share/dmc]
    #[arg(long, global = true, env = "DMC_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node in the foreground until SIGINT or SIGTERM (logs to stderr; DMC_LOG filters)
    Node {
        /// Config file [default: <data dir>/config.toml, else built-in defaults]
        #[arg(long, env = "DMC_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Offer files for conversion
    Offer {
        /// Files to offer
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Conversion profile (`dmc profiles` lists them) [default: the node's choice per media type]
        #[arg(
            long,
            value_name = "PROFILE",
            value_parser = crate::profile_arg::ProfileName,
            hide_possible_values = true
        )]
        profile: Option<String>,
        /// Higher runs first on a converter's queue (then older offers first); may be negative
        #[arg(
            long,
            value_name = "N",
            default_value_t = 0,
            allow_negative_numbers = true
        )]
        priority: i32,
        /// Make a new item even for content already offered with this profile (by default the
        /// answer is that item, unless its result is gone from the output folder)
        #[arg(long)]
        again: bool,
        /// Wait until every item is delivered or has failed; exit 1 if any failed
        #[arg(long)]
        wait: bool,
        /// Print the outcomes as JSON; on failure an object with `error`, `offered` and `not_offered`
        #[arg(long)]
        json: bool,
    },
    /// Show one item in detail, or without ITEM list this node's items
    Status {
        /// Item id or a unique prefix of it
        item: Option<String>,
        /// Without ITEM: every item known, not only this node's
        #[arg(long, conflicts_with = "item")]
        all: bool,
        /// Without ITEM: items on the page (newest first)
        #[arg(long, conflicts_with = "item", default_value_t = DEFAULT_LIST_LIMIT,
              value_parser = limit_parser())]
        limit: u32,
        /// Without ITEM: items to skip (newest first)
        #[arg(long, conflicts_with = "item", default_value_t = 0,
              value_parser = offset_parser())]
        offset: u64,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// List this node's items, newest first, a page at a time
    List {
        /// Every item known, not only this node's
        #[arg(long)]
        all: bool,
        /// Items on the page
        #[arg(long, default_value_t = DEFAULT_LIST_LIMIT, value_parser = limit_parser())]
        limit: u32,
        /// Items to skip (`next_offset` of the previous page)
        #[arg(long, default_value_t = 0, value_parser = offset_parser())]
        offset: u64,
        /// Print JSON: the page's `items`, `total`, `offset`, `limit`, `next_offset` and `open`
        #[arg(long)]
        json: bool,
    },
    /// Copy an item's result to PATH, never over an existing file unless --force; without -o,
    /// check that the result is still where it was delivered and print its path
    Fetch {
        /// Item id or a unique prefix of it
        item: String,
        /// A folder (the copy keeps the result's name) or a file name; if a file of that name
        /// exists, the copy is named `name (1).ext`, `name (2).ext`, … instead
        #[arg(long, short, value_name = "PATH")]
        output: Option<PathBuf>,
        /// Replace an existing file at PATH instead of choosing a free name
        #[arg(long, requires = "output")]
        force: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Cancel an item
    Cancel {
        /// Item id or a unique prefix of it
        item: String,
        /// Print the item as JSON
        #[arg(long)]
        json: bool,
    },
    /// Change the queue priority of an item this node offered and that has not ended (higher
    /// runs first on its converter's queue, then older offers; an item already running keeps
    /// running)
    Priority {
        /// Item id or a unique prefix of it
        item: String,
        /// The new priority, any 32-bit integer (default of offers: 0)
        #[arg(allow_negative_numbers = true)]
        priority: i32,
        /// Print the item as JSON
        #[arg(long)]
        json: bool,
    },
    /// List the peers this node knows
    Peers {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// List the conversion profiles
    Profiles {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Show this node
    Info {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Open the node's web dashboard: print a one-time login link (valid 2 minutes) and open it
    /// in the browser when there is a desktop
    #[command(args_conflicts_with_subcommands = true)]
    Gui {
        #[command(subcommand)]
        action: Option<GuiCommand>,
        /// Only print the link, do not open a browser
        #[arg(long)]
        no_open: bool,
        /// Print JSON: {url, dashboard, expires_in_secs}
        #[arg(long)]
        json: bool,
    },
    /// The network key: only machines holding the same key talk to each other
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Print a shell completion script (e.g. `dmc completions bash > /etc/bash_completion.d/dmc`)
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout, e.g. `dmc man | man -l -`
    Man,
    /// Check this machine's setup (ffmpeg, disk, network key, node, mDNS, peers) and say how to
    /// fix each problem; exit 1 if a check failed
    Doctor {
        /// Config file the node uses [default: <data dir>/config.toml, else built-in defaults]
        #[arg(long, env = "DMC_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print JSON: an array of {check, status: ok|warn|fail, detail, fix}
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum GuiCommand {
    /// Make a new API key for scripts (`Authorization: Bearer KEY` on the dashboard's port,
    /// e.g. for /metrics), replacing the previous one; it is printed only now
    ApiKey {
        /// Print JSON: {api_key}
        #[arg(long)]
        json: bool,
    },
    /// Set the dashboard's password (at least 12 characters), needed for a [gui] listen address
    /// other than loopback: read from the terminal without echo (asked twice), or as one line
    /// from standard input when that is not a terminal (`printf '%s\n' "$PW" | dmc gui
    /// set-password`). Only its argon2id hash is kept, in <data dir>/gui-password.argon2; a
    /// running node takes the new password at once
    SetPassword,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Print this network's join code (to run `dmc network join CODE` on another machine)
    Show {
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// Print only the join code (for scripts: `dmc network join "$(dmc network show --code)"`)
        #[arg(long, conflicts_with = "json")]
        code: bool,
    },
    /// Make this machine a member of the network whose join code is CODE
    Join {
        /// The code `dmc network show` printed on a machine of that network
        code: String,
    },
    /// Create a new key: this machine leaves its network and starts a new one (to rotate the
    /// key, then join the other machines with the new code)
    New {
        /// Replace an existing key
        #[arg(long)]
        force: bool,
    },
}

/// The data dir of the system service (`packaging/systemd/dmc.service`, `StateDirectory=dmc`).
pub const SYSTEM_DATA_DIR: &str = "/var/lib/dmc";

impl Cli {
    /// The data dir: `--data-dir`, else `$DMC_DATA_DIR`, else `$HOME/.local/share/dmc`; absolute.
    ///
    /// For commands that talk to a node (not `dmc node`): when neither is given, no node listens
    /// in `$HOME/.local/share/dmc` and the system service's socket exists in
    /// [`SYSTEM_DATA_DIR`], that one is used, so members of group `dmc` reach the system node.
    pub fn data_dir(&self) -> Result<PathBuf> {
        let explicit = match &self.data_dir {
            Some(d) if !d.as_os_str().is_empty() => Some(d.clone()),
            _ => None,
        };
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
        let dir = match explicit {
            Some(d) => d,
            None => {
                let user = home.map(|h| PathBuf::from(h).join(".local/share/dmc"));
                let system = PathBuf::from(SYSTEM_DATA_DIR);
                let is_client = !matches!(self.command, Command::Node { .. });
                match user {
                    Some(u) if !is_client || !prefer_system(&u, &system) => u,
                    _ if is_client && has_socket(&system) => system,
                    Some(u) => u,
                    None => bail!(
                        "HOME is not set, so there is no default data dir; pass --data-dir DIR"
                    ),
                }
            }
        };
        std::path::absolute(&dir).with_context(|| format!("cannot make {} absolute", dir.display()))
    }
}

/// Whether `dir` holds a node's control socket (a live node or a stale socket file).
fn has_socket(dir: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(dmc_node::control::socket_path(dir)).is_ok_and(|m| m.file_type().is_socket())
}

/// Whether a client should talk to the system node rather than the user's own data dir.
fn prefer_system(user: &std::path::Path, system: &std::path::Path) -> bool {
    !has_socket(user) && has_socket(system)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn parses_offer_with_options() {
        let cli = parse(&[
            "dmc",
            "--data-dir",
            "/d",
            "offer",
            "a.mp4",
            "b.mp4",
            "--profile",
            "mkv-x265",
            "--wait",
            "--json",
            "--priority",
            "-3",
        ]);
        assert_eq!(cli.data_dir, Some(PathBuf::from("/d")));
        match cli.command {
            Command::Offer {
                files,
                profile,
                priority,
                again,
                wait,
                json,
            } => {
                assert!(!again);
                assert_eq!(files, vec![PathBuf::from("a.mp4"), PathBuf::from("b.mp4")]);
                assert_eq!(profile.as_deref(), Some("mkv-x265"));
                assert_eq!(priority, -3);
                assert!(wait && json);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clients_fall_back_to_the_system_node_only_when_the_user_has_none() {
        let user = tempfile::tempdir().unwrap();
        let system = tempfile::tempdir().unwrap();
        assert!(!prefer_system(user.path(), system.path()));
        let _sys =
            std::os::unix::net::UnixListener::bind(dmc_node::control::socket_path(system.path()))
                .unwrap();
        assert!(prefer_system(user.path(), system.path()));
        // A regular file is not a socket.
        std::fs::write(dmc_node::control::socket_path(user.path()), b"").unwrap();
        assert!(prefer_system(user.path(), system.path()));
        std::fs::remove_file(dmc_node::control::socket_path(user.path())).unwrap();
        let _own =
            std::os::unix::net::UnixListener::bind(dmc_node::control::socket_path(user.path()))
                .unwrap();
        assert!(!prefer_system(user.path(), system.path()));
    }

    #[test]
    fn offer_needs_a_file() {
        assert!(Cli::try_parse_from(["dmc", "offer"]).is_err());
    }

    #[test]
    fn data_dir_may_follow_the_subcommand() {
        let cli = parse(&["dmc", "list", "--all", "--data-dir", "/x"]);
        assert_eq!(cli.data_dir, Some(PathBuf::from("/x")));
        assert!(matches!(
            cli.command,
            Command::List {
                all: true,
                json: false,
                limit: DEFAULT_LIST_LIMIT,
                offset: 0,
            }
        ));
        assert_eq!(cli.data_dir().unwrap(), PathBuf::from("/x"));
    }

    #[test]
    fn parses_the_other_subcommands() {
        assert!(matches!(
            parse(&["dmc", "status"]).command,
            Command::Status {
                item: None,
                all: false,
                json: false,
                ..
            }
        ));
        match parse(&["dmc", "status", "7f1c", "--json"]).command {
            Command::Status { item, json, .. } => {
                assert_eq!((item.as_deref(), json), (Some("7f1c"), true))
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["dmc", "status", "7f1c", "--all"]).is_err());
        assert!(Cli::try_parse_from(["dmc", "status", "7f1c", "--offset", "5"]).is_err());
        assert!(Cli::try_parse_from(["dmc", "list", "--limit", "0"]).is_err());
        assert!(matches!(
            parse(&["dmc", "list", "--limit", "2", "--offset", "4"]).command,
            Command::List {
                limit: 2,
                offset: 4,
                ..
            }
        ));
        match parse(&["dmc", "fetch", "7f1c", "-o", "/tmp/out.mkv"]).command {
            Command::Fetch {
                item,
                output,
                force,
                json,
            } => {
                assert_eq!(item, "7f1c");
                assert_eq!(output, Some(PathBuf::from("/tmp/out.mkv")));
                assert!(!json && !force);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["dmc", "fetch", "7f1c", "-o", "/tmp", "--force"]).command,
            Command::Fetch { force: true, .. }
        ));
        assert!(Cli::try_parse_from(["dmc", "fetch", "7f1c", "--force"]).is_err());
        assert!(matches!(
            parse(&["dmc", "offer", "a.mp4", "--again"]).command,
            Command::Offer { again: true, .. }
        ));
        assert!(matches!(
            parse(&["dmc", "cancel", "abc"]).command,
            Command::Cancel { .. }
        ));
        match parse(&["dmc", "priority", "abc", "-4", "--json"]).command {
            Command::Priority {
                item,
                priority,
                json,
            } => assert_eq!((item.as_str(), priority, json), ("abc", -4, true)),
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["dmc", "priority", "abc", "high"]).is_err());
        assert!(Cli::try_parse_from(["dmc", "priority", "abc", "2147483648"]).is_err());
        assert!(matches!(
            parse(&["dmc", "peers", "--json"]).command,
            Command::Peers { json: true }
        ));
        assert!(matches!(
            parse(&["dmc", "profiles"]).command,
            Command::Profiles { json: false }
        ));
        assert!(matches!(
            parse(&["dmc", "info", "--json"]).command,
            Command::Info { json: true }
        ));
        assert!(matches!(
            parse(&["dmc", "gui", "--no-open"]).command,
            Command::Gui {
                action: None,
                no_open: true,
                json: false
            }
        ));
        assert!(matches!(
            parse(&["dmc", "gui", "api-key", "--json"]).command,
            Command::Gui {
                action: Some(GuiCommand::ApiKey { json: true }),
                ..
            }
        ));
        match parse(&["dmc", "node", "--config", "/etc/dmc.toml"]).command {
            Command::Node { config } => assert_eq!(config, Some(PathBuf::from("/etc/dmc.toml"))),
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["dmc", "fetch"]).is_err());
        assert!(Cli::try_parse_from(["dmc", "bogus"]).is_err());
        assert!(matches!(
            parse(&["dmc", "completions", "fish"]).command,
            Command::Completions {
                shell: clap_complete::Shell::Fish
            }
        ));
        assert!(Cli::try_parse_from(["dmc", "completions", "tcsh"]).is_err());
        assert!(matches!(parse(&["dmc", "man"]).command, Command::Man));
        match parse(&["dmc", "doctor", "--json", "--config", "/c.toml"]).command {
            Command::Doctor { config, json } => {
                assert_eq!(config, Some(PathBuf::from("/c.toml")));
                assert!(json);
            }
            other => panic!("{other:?}"),
        }
    }
}
