//! `dmc completions SHELL` and the hidden `dmc man`: shell completions and the roff man page,
//! generated from the clap definition so they never drift from the real options.

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::args::Cli;
use crate::output::emit;

/// Prints the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "dmc", &mut buf);
    emit(&String::from_utf8(buf).context("the completion script is not UTF-8")?)
}

/// The man page of `dmc` (section 1) in roff, with a section per subcommand.
pub fn man_page() -> Result<String> {
    let cmd = Cli::command();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .context("rendering the man page")?;
    let mut page = String::from_utf8(buf).context("the man page is not UTF-8")?;
    page.push_str(".SH \"COMMAND OPTIONS\"\n");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page.push_str(&command_section(sub));
    }
    page.push_str(FILES_SECTION);
    Ok(page)
}

/// One subcommand: its usage line, what it does and each argument.
fn command_section(sub: &clap::Command) -> String {
    let mut out = format!(".SS \"dmc {}\"\n", roff_escape(sub.get_name()));
    if let Some(about) = sub.get_about() {
        out.push_str(&format!("{}\n", roff_escape(&about.to_string())));
    }
    for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
        let id = arg.get_id().as_str();
        if id == "help" || id == "version" || arg.is_global_set() {
            continue;
        }
        let value = arg
            .get_value_names()
            .map(|v| v.iter().map(|n| format!(" <{n}>")).collect::<String>())
            .unwrap_or_default();
        let flag = match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => format!("\\fB-{s}\\fR, \\fB--{l}\\fR{value}"),
            (None, Some(l)) => format!("\\fB--{l}\\fR{value}"),
            (Some(s), None) => format!("\\fB-{s}\\fR{value}"),
            (None, None) => format!("<{}>", id.to_uppercase()),
        };
        out.push_str(&format!(".TP\n{}\n", roff_escape_keep(&flag)));
        if let Some(help) = arg.get_help() {
            out.push_str(&format!("{}\n", roff_escape(&help.to_string())));
        }
    }
    out
}

/// Escapes backslashes and a leading dot or quote, which roff would read as a request.
fn roff_escape(text: &str) -> String {
    roff_escape_keep(&text.replace('\\', "\\e"))
}

/// Like [`roff_escape`] but keeps backslashes (font changes written on purpose).
fn roff_escape_keep(text: &str) -> String {
    match text.chars().next() {
        Some('.') | Some('\'') => format!("\\&{text}"),
        _ => text.to_string(),
    }
}

/// Prints the man page to stdout.
pub fn man() -> Result<()> {
    emit(&man_page()?)
}

const FILES_SECTION: &str = r#".SH FILES
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
The configuration of the user service (\fBsystemctl --user start dmc\fR).
.SH ENVIRONMENT
.TP
\fBDMC_DATA_DIR\fR, \fBDMC_CONFIG\fR
Defaults of \fB--data-dir\fR and \fB--config\fR.
.TP
\fBDMC_LOG\fR
Log filter of \fBdmc node\fR, e.g. \fIdebug\fR or \fIdmc_node=debug\fR.
.TP
\fBNO_COLOR\fR
When set and not empty, output has no colour (it has none when not on a terminal either).
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_has_the_usual_sections_and_every_subcommand() {
        let page = man_page().unwrap();
        for needle in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH FILES",
            "dmc offer",
            "dmc node",
            "--priority",
        ] {
            assert!(page.contains(needle), "missing {needle}");
        }
        assert!(
            !page.contains("dmc man\""),
            "the hidden command is not documented"
        );
    }
}
