//! `dmc man`: the one man page of dmc (section 1) in roff, every command and subcommand with
//! its options, generated from the clap definition so it never drifts from the real options.

use clap::{ArgAction, CommandFactory};

use crate::args::Cli;

/// The whole page.
pub fn man_page() -> String {
    let cmd = Cli::command();
    let mut page = format!(
        ".TH DMC 1 \"\" \"dmc {}\" \"User Commands\"\n",
        env!("CARGO_PKG_VERSION")
    );
    page.push_str(HEAD);
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        page.push_str(&arg_item(arg));
    }
    page.push_str(HELP_AND_VERSION);
    page.push_str(".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page.push_str(&command_section("dmc", sub));
    }
    page.push_str(TAIL);
    page
}

/// One command: its usage line, what it does, each argument, then its own subcommands.
fn command_section(parent: &str, cmd: &clap::Command) -> String {
    let path = format!("{parent} {}", cmd.get_name());
    let mut out = format!(".SS \"{}\"\n", escape(&path));
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    if subs.is_empty() {
        out.push_str(&format!(".B {}\n{}\n.PP\n", escape(&path), usage(cmd)));
    }
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        out.push_str(&format!("{}\n", escape(&about.to_string())));
    }
    for arg in own_args(cmd) {
        out.push_str(&arg_item(arg));
    }
    if !subs.is_empty() {
        let names: Vec<String> = subs.iter().map(|s| bold(s.get_name())).collect();
        out.push_str(&format!(".PP\nIts commands: {}.\n", names.join(", ")));
    }
    for sub in subs {
        out.push_str(&command_section(&path, sub));
    }
    out
}

/// The arguments a command documents itself (not help, version or the global ones).
fn own_args(cmd: &clap::Command) -> impl Iterator<Item = &clap::Arg> {
    cmd.get_arguments().filter(|a| {
        let id = a.get_id().as_str();
        !a.is_hide_set() && !a.is_global_set() && id != "help" && id != "version"
    })
}

/// The usage line after the command's name: options in brackets, then the operands.
fn usage(cmd: &clap::Command) -> String {
    let mut parts = Vec::new();
    for arg in own_args(cmd).filter(|a| !a.is_positional()) {
        parts.push(format!("[{}]", flag(arg)));
    }
    for arg in own_args(cmd).filter(|a| a.is_positional()) {
        let mut op = operand(arg);
        if !arg.is_required_set() {
            op = format!("[{op}]");
        }
        parts.push(op);
    }
    parts.join(" ")
}

/// An option as written, e.g. `--profile PROFILE` or `-o, --output PATH`; a flag without a
/// value has none.
fn flag(arg: &clap::Arg) -> String {
    let value = if arg.get_action().takes_values() {
        format!(" {}", italic(&value_name(arg)))
    } else {
        String::new()
    };
    let names = match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => format!("{}, {}", bold(&format!("-{s}")), bold(&format!("--{l}"))),
        (None, Some(l)) => bold(&format!("--{l}")),
        (Some(s), None) => bold(&format!("-{s}")),
        (None, None) => return operand(arg),
    };
    format!("{names}{value}")
}

/// A positional argument, e.g. `FILE...`.
fn operand(arg: &clap::Arg) -> String {
    let more = if matches!(arg.get_action(), ArgAction::Append) {
        "..."
    } else {
        ""
    };
    format!("{}{more}", italic(&value_name(arg)))
}

fn value_name(arg: &clap::Arg) -> String {
    arg.get_value_names()
        .and_then(|v| v.first())
        .map(|n| n.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
}

/// One argument as a tagged paragraph: how it is written, its help, where else it comes from.
fn arg_item(arg: &clap::Arg) -> String {
    let mut out = format!(".TP\n{}\n", flag(arg));
    if let Some(help) = arg.get_long_help().or(arg.get_help()) {
        out.push_str(&format!("{}\n", escape(&help.to_string())));
    }
    if let Some(env) = arg.get_env() {
        let env = env.to_string_lossy();
        out.push_str(&format!(
            ".br\nAlso read from the environment variable {}.\n",
            bold(&env)
        ));
    }
    out
}

fn bold(text: &str) -> String {
    format!("\\fB{}\\fR", escape(text))
}

fn italic(text: &str) -> String {
    format!("\\fI{}\\fR", escape(text))
}

/// Text safe for roff: backslashes and minus signs escaped, a leading dot or quote (which roff
/// would read as a request) neutralised.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    let text = text.replace("\n.", "\n\\&.").replace("\n'", "\n\\&'");
    match text.chars().next() {
        Some('.') | Some('\'') => format!("\\&{text}"),
        _ => text,
    }
}

const HEAD: &str = r#".SH NAME
dmc \- peer\-to\-peer media conversion for the LAN
.SH SYNOPSIS
.B dmc
[\fB\-\-data\-dir\fR \fIDIR\fR] \fICOMMAND\fR [\fIOPTIONS\fR] [\fIOPERANDS\fR]
.SH DESCRIPTION
Every machine runs \fBdmc node\fR; nodes that hold the same network key find each other, and
those configured as converters convert the files the others offer with ffmpeg.
Every other command talks to the node of the data dir over its control socket, except
\fBnetwork\fR, \fBdoctor\fR, \fBcompletions\fR and \fBman\fR, which read the data dir and the
configuration themselves.
Start a network with \fBdmc network new\fR on one machine and run the \fBdmc network join\fR
\fICODE\fR it prints on the others.
.SH OPTIONS
"#;

const HELP_AND_VERSION: &str = r#".TP
\fB\-h\fR, \fB\-\-help\fR
Print help (of \fBdmc\fR, or of the command it follows).
.TP
\fB\-V\fR, \fB\-\-version\fR
Print the version.
"#;

const TAIL: &str = r#".SH EXIT STATUS
0 on success; 1 on an error, printed on standard error (\fBoffer \-\-wait\fR: an item failed;
\fBdoctor\fR: a check failed); 2 on a usage error.
.SH FILES
.TP
\fI~/.local/share/dmc/\fR
A user's node: identity, database, work files, control socket; \fIconfig.toml\fR there is read when present.
.TP
\fI/var/lib/dmc/\fR
The system service's data dir (\fBdmc.service\fR, user \fBdmc\fR); members of group \fBdmc\fR use its control socket.
.TP
\fI/etc/dmc/config.toml\fR
The system service's configuration.
.TP
\fI~/.config/dmc/config.toml\fR
The configuration of the user service (\fBsystemctl \-\-user start dmc\fR).
.SH ENVIRONMENT
.TP
\fBDMC_DATA_DIR\fR, \fBDMC_CONFIG\fR
Defaults of \fB\-\-data\-dir\fR and \fB\-\-config\fR.
.TP
\fBDMC_LOG\fR
Log filter of \fBdmc node\fR, e.g. \fIdebug\fR or \fIdmc_node=debug\fR.
.TP
\fBNO_COLOR\fR
When set and not empty, output has no colour (it has none when not on a terminal either).
.SH SEE ALSO
\fBffmpeg\fR(1); the documentation in \fIdocs/\fR of the source, or \fI/usr/share/doc/dmc/\fR
where the package installs it.
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_and_subcommand_is_on_the_one_page() {
        let page = man_page();
        for needle in [
            ".SH NAME\ndmc \\- peer",
            ".SS \"dmc offer\"",
            ".SS \"dmc network join\"",
            "\\fB\\-\\-priority\\fR \\fIN\\fR",
            "[\\fB\\-\\-wait\\fR]",
            "\\fIFILE\\fR...",
            ".SS \"dmc man\"",
        ] {
            assert!(page.contains(needle), "missing {needle}:\n{page}");
        }
        assert!(
            !page.contains("dmc\\-offer(1)"),
            "names no page that is not installed"
        );
        assert!(
            !page.contains("<WAIT>") && !page.contains("WAIT\\fR"),
            "{page}"
        );
    }

    #[test]
    fn escape_neutralises_requests_and_backslashes() {
        assert_eq!(escape(".x"), "\\&.x");
        assert_eq!(escape("a\n'b"), "a\n\\&'b");
        assert_eq!(escape("a\\b-c"), "a\\eb\\-c");
    }
}
