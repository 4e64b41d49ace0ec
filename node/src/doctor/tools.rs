//! The ffmpeg checks: ffmpeg and ffprobe on `PATH` and their versions, and which profiles
//! (built-in and `[[converter.custom_profiles]]`) the local ffmpeg's encoders can run.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::ffmpeg::profiles::{Profile, BUILTIN_PROFILES};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::Check;
use crate::config::Config;
use crate::ffmpeg::parse_encoders;

/// Most bytes of a tool's output read.
const MAX_OUTPUT: u64 = 1024 * 1024;
/// How long `-version` or `-encoders` may take.
const TIME_LIMIT: Duration = Duration::from_secs(30);
/// The install hint for both tools.
const INSTALL: &str = "install ffmpeg, which brings ffmpeg and ffprobe (Debian/Ubuntu: \
    apt install ffmpeg), or put the folder holding them on the node's PATH";

/// The first executable file called `tool` in the folders of `path` (a `PATH` value).
pub fn find_on_path(tool: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(tool))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Runs `bin args…` and returns its stdout (at most [`MAX_OUTPUT`] bytes) if it succeeded.
async fn run(bin: &Path, args: &[&str]) -> Result<String, String> {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take();
    let work = async {
        let mut out = Vec::new();
        if let Some(s) = stdout {
            s.take(MAX_OUTPUT)
                .read_to_end(&mut out)
                .await
                .map_err(|e| format!("reading its output: {e}"))?;
        }
        let status = child.wait().await.map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!(
                "`{} {}` failed ({status})",
                bin.display(),
                args.join(" ")
            ));
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    tokio::time::timeout(TIME_LIMIT, work).await.map_err(|_| {
        format!(
            "`{} {}` did not finish within {}s",
            bin.display(),
            args.join(" "),
            TIME_LIMIT.as_secs()
        )
    })?
}

/// The version word of `<tool> -version`'s first line (`ffmpeg version 5.1.6-0+deb12u1 …`).
pub fn parse_version(out: &str) -> Option<String> {
    let mut words = out.lines().next()?.split_whitespace();
    let _tool = words.next()?;
    (words.next()? == "version")
        .then(|| words.next().map(|v| v.chars().take(64).collect()))
        .flatten()
}

/// Finds `tool` and asks its version; the check, and its path when it runs.
async fn tool_check(tool: &str, needed: bool, why: &str, path: &OsStr) -> (Check, Option<PathBuf>) {
    let Some(bin) = find_on_path(tool, path) else {
        let detail = format!("{tool} is not on PATH; {why}");
        let check = if needed {
            Check::fail(tool, detail, INSTALL)
        } else {
            Check::warn(tool, detail, INSTALL)
        };
        return (check, None);
    };
    match run(&bin, &["-hide_banner", "-version"]).await {
        Ok(out) => {
            let version = parse_version(&out).unwrap_or_else(|| "of unknown version".into());
            (
                Check::ok(tool, format!("{tool} {version} at {}", bin.display())),
                Some(bin),
            )
        }
        Err(e) => (
            Check::fail(
                tool,
                format!("{} does not run: {e}", bin.display()),
                format!(
                    "reinstall ffmpeg (Debian/Ubuntu: apt install --reinstall ffmpeg); \
                         try `{} -version` to see its error",
                    bin.display()
                ),
            ),
            None,
        ),
    }
}

/// The fix for a profile whose encoder is missing.
fn encoder_fix(p: &Profile, custom: bool) -> String {
    let mut fix = format!(
        "install an ffmpeg that has the encoder {} (Debian/Ubuntu's does: apt install ffmpeg); \
         `ffmpeg -encoders` lists what yours has",
        p.encoder
    );
    if custom {
        fix.push_str(", or remove the profile from [[converter.custom_profiles]]");
    }
    fix
}

/// A profile the config knows, and whether it is custom.
type Known = (&'static Profile, bool);

/// What the profiles the config knows need from `encoders`.
pub fn profile_checks(config: &Config, encoders: &HashSet<String>) -> Vec<Check> {
    let c = &config.converter;
    let all: Vec<Known> = BUILTIN_PROFILES
        .iter()
        .map(|p| (p, false))
        .chain(c.custom_profiles.iter().map(|p| (*p, true)))
        .collect();
    let (runnable, missing): (Vec<Known>, Vec<Known>) = all
        .into_iter()
        .partition(|(p, _)| encoders.contains(p.encoder));
    if !c.enabled {
        return vec![not_a_converter(&runnable, &missing)];
    }
    let mut out: Vec<Check> = missing
        .iter()
        .map(|(p, is_custom)| missing_encoder(p, *is_custom, &c.profiles))
        .collect();
    // What the converter would advertise (a missing custom encoder stops it: nothing).
    let offered: Vec<&str> = c
        .profiles_with(encoders)
        .map(|p| p.advertised.iter().map(|p| p.name).collect())
        .unwrap_or_default();
    if offered.is_empty() {
        out.push(Check::fail(
            "profiles",
            "this converter can run no profile: none of its profiles has its encoder, or \
             [converter] profiles / media_types leave none",
            "install ffmpeg from Debian/Ubuntu (apt install ffmpeg) and check [converter] \
             profiles and media_types",
        ));
    } else {
        out.insert(
            0,
            Check::ok(
                "profiles",
                format!("this converter offers: {}", offered.join(", ")),
            ),
        );
    }
    out
}

/// The one check of a node that does not convert: what its ffmpeg could run, and not.
fn not_a_converter(runnable: &[Known], missing: &[Known]) -> Check {
    let runnable: Vec<&str> = runnable.iter().map(|(p, _)| p.name).collect();
    let mut detail = format!(
        "this node does not convert ([converter] enabled = false); its ffmpeg could run: {}",
        if runnable.is_empty() {
            "none".into()
        } else {
            runnable.join(", ")
        }
    );
    if !missing.is_empty() {
        let not: Vec<String> = missing
            .iter()
            .map(|(p, _)| format!("{} ({} missing)", p.name, p.encoder))
            .collect();
        detail.push_str(&format!("; not: {}", not.join(", ")));
    }
    Check::ok("profiles", detail)
}

/// The check of a converter's profile `p` whose encoder is missing: it fails for a custom
/// profile (the node refuses to start with it), and warns for a built-in one, louder when
/// `[converter] profiles` (`wanted`) lists it.
fn missing_encoder(p: &Profile, is_custom: bool, wanted: &[String]) -> Check {
    let name = format!("profile {}", p.name);
    let detail = format!(
        "{} missing: this ffmpeg lacks the encoder, so {} can't run",
        p.encoder, p.name
    );
    if is_custom {
        Check::fail(
            name,
            format!("{detail}; the node refuses to start with it"),
            encoder_fix(p, true),
        )
    } else if wanted.iter().any(|w| w == p.name) {
        Check::warn(
            name,
            format!("{detail}; it is listed in [converter] profiles but will not be offered"),
            encoder_fix(p, false),
        )
    } else {
        Check::warn(name, detail, encoder_fix(p, false))
    }
}

/// ffmpeg, ffprobe and the profiles' encoders.
pub async fn checks(config: &Config, path: &OsStr) -> Vec<Check> {
    let converter = config.converter.enabled;
    let why_ffmpeg = if converter {
        "this node is a converter and runs it for every conversion"
    } else {
        "only converters need it ([converter] enabled = false here)"
    };
    let (ffmpeg, bin) = tool_check("ffmpeg", converter, why_ffmpeg, path).await;
    let (ffprobe, _) = tool_check(
        "ffprobe",
        true,
        "the node reads every offered file with it (and converters check outputs)",
        path,
    )
    .await;
    let mut out = vec![ffmpeg, ffprobe];
    let Some(bin) = bin else {
        return out;
    };
    match run(&bin, &["-hide_banner", "-encoders"]).await {
        Ok(listing) => {
            let encoders = parse_encoders(&listing);
            if encoders.is_empty() {
                out.push(Check::fail(
                    "profiles",
                    format!("`{} -encoders` listed no encoders", bin.display()),
                    "reinstall ffmpeg (Debian/Ubuntu: apt install --reinstall ffmpeg)",
                ));
            } else {
                out.extend(profile_checks(config, &encoders));
            }
        }
        Err(e) => out.push(Check::fail(
            "profiles",
            format!("cannot list ffmpeg's encoders: {e}"),
            "reinstall ffmpeg (Debian/Ubuntu: apt install --reinstall ffmpeg)",
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn config(dir: &Path, toml: &str) -> Config {
        Config::from_toml(dir, toml, None).expect("config")
    }

    /// A PATH holding only a folder with the real ffprobe linked in: ffmpeg is missing.
    fn path_without_ffmpeg(dir: &Path) -> std::ffi::OsString {
        let real = std::env::var_os("PATH").unwrap_or_default();
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        if let Some(probe) = find_on_path("ffprobe", &real) {
            std::os::unix::fs::symlink(probe, bin.join("ffprobe")).expect("symlink");
        }
        bin.into_os_string()
    }

    #[tokio::test]
    async fn real_ffmpeg_is_found_with_its_version_and_encoders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let cfg = config(dir.path(), "[converter]\nenabled = true\n");
        let c = checks(&cfg, &path).await;
        assert_eq!(c[0].check, "ffmpeg");
        assert_eq!(c[0].status, Status::Ok, "{c:?}");
        assert!(c[0].detail.starts_with("ffmpeg 5."), "{:?}", c[0]);
        assert_eq!(c[1].status, Status::Ok, "{c:?}");
        assert!(c[1].detail.starts_with("ffprobe "), "{:?}", c[1]);
        let profiles = c.iter().find(|c| c.check == "profiles").expect("profiles");
        assert_eq!(profiles.status, Status::Ok, "{c:?}");
        assert!(profiles.detail.contains("mkv-x264"), "{profiles:?}");
    }

    #[tokio::test]
    async fn missing_ffmpeg_fails_a_converter_and_warns_a_client() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = path_without_ffmpeg(dir.path());
        let conv = checks(&config(dir.path(), "[converter]\nenabled = true\n"), &path).await;
        assert_eq!(conv[0].status, Status::Fail, "{conv:?}");
        assert!(conv[0].detail.contains("not on PATH"), "{conv:?}");
        assert!(conv[0]
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("apt install ffmpeg")));
        assert_eq!(
            conv[1].status,
            Status::Ok,
            "ffprobe is still there: {conv:?}"
        );
        assert_eq!(conv.len(), 2, "no encoder check without ffmpeg: {conv:?}");

        let client = checks(&config(dir.path(), ""), &path).await;
        assert_eq!(client[0].status, Status::Warn, "{client:?}");

        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).expect("mkdir");
        let none = checks(&config(dir.path(), ""), empty.as_os_str()).await;
        assert_eq!(none[1].status, Status::Fail, "ffprobe is needed: {none:?}");
    }

    #[test]
    fn missing_encoders_name_the_profiles() {
        let dir = tempfile::tempdir().expect("tempdir");
        let enc: HashSet<String> = ["libx264", "aac", "libopus"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cfg = config(
            dir.path(),
            "[converter]\nenabled = true\nprofiles = [\"mkv-x264\", \"mkv-x265\"]\n\n\
             [[converter.custom_profiles]]\nname = \"flac\"\nmedia_types = [\"audio\"]\n\
             encoder = \"flac\"\nargs = [\"-c:a\", \"flac\"]\nextension = \"flac\"\n\
             codec = \"flac\"\ncontainer = \"flac\"\n",
        );
        let c = profile_checks(&cfg, &enc);
        let x265 = c
            .iter()
            .find(|c| c.check == "profile mkv-x265")
            .expect("x265");
        assert_eq!(x265.status, Status::Warn);
        assert!(x265.detail.starts_with("libx265 missing"), "{x265:?}");
        assert!(x265.detail.contains("[converter] profiles"), "{x265:?}");
        assert!(x265
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("apt install ffmpeg")));
        let flac = c.iter().find(|c| c.check == "profile flac").expect("flac");
        assert_eq!(flac.status, Status::Fail);
        assert!(flac
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("custom_profiles")));
        // With the custom profile unrunnable the node would not start: nothing is offered.
        let summary = c.iter().find(|c| c.check == "profiles").expect("summary");
        assert_eq!(summary.status, Status::Fail);

        let client = profile_checks(&config(dir.path(), ""), &enc);
        assert_eq!(client.len(), 1);
        assert_eq!(client[0].status, Status::Ok);
        assert!(
            client[0].detail.contains("mkv-x265 (libx265 missing)"),
            "{client:?}"
        );
    }

    #[test]
    fn versions_are_read_from_the_first_line() {
        assert_eq!(
            parse_version("ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024\nbuilt with"),
            Some("5.1.6-0+deb12u1".into())
        );
        assert_eq!(
            parse_version("ffprobe version n7.0 Copyright"),
            Some("n7.0".into())
        );
        assert_eq!(parse_version("garbage"), None);
        assert_eq!(parse_version(""), None);
    }
}
