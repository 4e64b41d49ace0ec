//! Parses human durations in the configuration: `90s`, `2m`, `1h`, `30d`, or plain seconds.

use std::time::Duration;

use serde::Deserialize;

/// Longest duration accepted anywhere in the configuration: 10 years.
const MAX_SECS: u64 = 10 * 365 * 24 * 3600;

/// Parses `90s`, `2m`, `1h30m`-free simple forms (`<number><unit>`, unit one of `ms`, `s`,
/// `m`, `h`, `d`) or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; e.g. \"90s\", \"2m\", \"1h\", \"30d\""))?;
    let millis = match unit.trim() {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{s}`; use ms, s, m, h or d"
            ))
        }
    };
    match millis {
        Some(ms) if ms <= MAX_SECS * 1000 => Ok(Duration::from_millis(ms)),
        _ => Err(format!("`{s}` is too long; at most 10 years")),
    }
}

/// Writes a duration the way [`parse_duration`] reads it, in its largest whole unit.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms > 0 && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// A duration written as a string (`"5s"`) or a number of seconds (`5`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum DurationValue {
    Secs(i64),
    Text(String),
}

impl DurationValue {
    pub(super) fn parse(&self) -> Result<Duration, String> {
        match self {
            DurationValue::Secs(n) if *n >= 0 => parse_duration(&n.to_string()),
            DurationValue::Secs(n) => {
                Err(format!("`{n}` is negative; give seconds or e.g. \"5s\""))
            }
            DurationValue::Text(s) => parse_duration(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn refusals_say_what_is_accepted() {
        assert!(parse_duration("soon").unwrap_err().contains("\"2m\""));
        assert!(parse_duration("3w")
            .unwrap_err()
            .contains("ms, s, m, h or d"));
        assert!(parse_duration("99999999999d")
            .unwrap_err()
            .contains("too long"));
    }

    #[test]
    fn format_round_trips() {
        for s in ["2m", "30d", "90s", "1h", "250ms"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
