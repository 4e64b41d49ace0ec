//! Runs a command with a LAN lab around it: builds N host namespaces on a bridge (optionally
//! with every host's link shaped), runs the command with the lab described in its environment,
//! and deletes the lab afterwards, also when the command fails. Used by the scripts in bench/.
//!
//! Usage: netlab_run <n_hosts> [--shape RATE] -- <command> [args...]
//! The command sees LAB_HOSTS=n and, for each host k, LAB_NS<k> (its namespace) and LAB_IP<k>
//! (its IPv4 address). Exits with the command's exit code.

use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use dmc_tests::NetLab;

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("netlab_run: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<u8> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sep = args
        .iter()
        .position(|a| a == "--")
        .context("usage: netlab_run <n_hosts> [--shape RATE] -- <command> [args...]")?;
    let (opts, cmd) = (&args[..sep], &args[sep + 1..]);
    let n: usize = opts
        .first()
        .context("missing <n_hosts>")?
        .parse()
        .context("<n_hosts> is not a number")?;
    if !(1..=50).contains(&n) {
        bail!("<n_hosts> must be 1 to 50, not {n}");
    }
    let shape = match opts.get(1).map(String::as_str) {
        Some("--shape") => Some(opts.get(2).context("--shape needs a rate, e.g. 1gbit")?),
        Some(other) => bail!("unknown option {other}"),
        None => None,
    };
    let (program, rest) = cmd.split_first().context("no command after --")?;
    let lab = NetLab::new(n)?;
    if let Some(rate) = shape {
        for k in 0..n {
            lab.shape(k, rate)?;
        }
    }
    let mut c = Command::new(program);
    c.args(rest).env("LAB_HOSTS", n.to_string());
    for k in 0..n {
        c.env(format!("LAB_NS{k}"), lab.ns(k))
            .env(format!("LAB_IP{k}"), lab.ip(k));
    }
    let mut child = c.spawn().with_context(|| format!("running {program}"))?;
    // Ctrl-C reaches the command too; outlive it so the lab is still deleted. (Set after the
    // spawn: an ignored signal would be inherited by the command.)
    // SAFETY: signal(2) with SIG_IGN installs no handler code.
    unsafe { signal(SIGINT, SIG_IGN) };
    let status = child.wait().context("waiting for the command")?;
    drop(lab);
    Ok(status.code().map_or(1, |c| c.clamp(0, 255) as u8))
}

const SIGINT: i32 = 2;
const SIG_IGN: usize = 1;

extern "C" {
    fn signal(sig: i32, handler: usize) -> usize;
}
