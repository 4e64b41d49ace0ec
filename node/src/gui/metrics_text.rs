//! Writing Prometheus' text exposition format (version 0.0.4): `# HELP` and `# TYPE` once
//! per family, then `name{label="value",…} value` lines, label values escaped (`\\`, `\"`,
//! `\n`) so a peer's name cannot break a line or add a label.

use std::fmt::Write;

/// The text being written.
#[derive(Default)]
pub(super) struct Text {
    out: String,
}

impl Text {
    /// Starts a family: its help line and type (`gauge`, `counter`).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample of the family `name`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A label value as the format wants it.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_families_come_with_help_and_type() {
        let mut t = Text::default();
        t.family("dmc_x", "gauge", "An x.");
        t.sample("dmc_x", &[("converter", "a\"b\\c\nd")], 0.5);
        t.sample("dmc_x", &[], 3.0);
        assert_eq!(
            t.finish(),
            "# HELP dmc_x An x.\n# TYPE dmc_x gauge\ndmc_x{converter=\"a\\\"b\\\\c\\nd\"} 0.5\ndmc_x 3\n"
        );
    }
}
