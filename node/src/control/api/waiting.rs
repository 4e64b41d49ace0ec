//! Why an item waits, in the words `status` shows (`waiting_reason`).

use dmc_protocol::time::rfc3339;
use dmc_protocol::{Millis, NextAttempt, Waiting};

use super::Names;

/// `waiting` in words as of the clock time `now_ms` (ms since the Unix epoch): a retry after a
/// backoff says when it starts, e.g. "next attempt at 08:45:12 UTC, in 30 s".
pub fn waiting_text_at(waiting: &Waiting, now_ms: Millis, names: &Names) -> String {
    match waiting {
        Waiting::AfterFailure {
            attempt,
            converter,
            error,
            next: NextAttempt::Retry { in_ms },
        } => {
            let at = rfc3339(now_ms.saturating_add(*in_ms));
            // `2026-11-25T20:43:17.123Z`: the time of day, to the second.
            let clock = at.get(11..19).unwrap_or(&at);
            format!(
                "attempt {attempt} failed on {}: {error}; next attempt at {clock} UTC, in {} s",
                names.label(converter),
                in_ms.div_ceil(1000)
            )
        }
        _ => waiting_text(waiting, names),
    }
}

/// `waiting` in words, for `waiting_reason`, naming converters as [`Names`] does.
pub fn waiting_text(waiting: &Waiting, names: &Names) -> String {
    match waiting {
        Waiting::ForConverter => "waiting for a converter that accepts this item".into(),
        Waiting::GivenBack { converter, reason } => format!(
            "converter {} gave it back ({reason}); waiting for a converter",
            names.label(converter)
        ),
        Waiting::ResultLost { converter, reason } => format!(
            "converter {} lost the result ({reason}); converting it again (not counted as an \
             attempt)",
            names.label(converter)
        ),
        Waiting::Rejected { converter, reason } => format!(
            "converter {} rejected it: {reason}; waiting for another converter",
            names.label(converter)
        ),
        Waiting::AfterFailure {
            attempt,
            converter,
            error,
            next,
        } => {
            let next = match next {
                NextAttempt::WaitingForConverter => "waiting for a converter".to_string(),
                NextAttempt::Retry { in_ms } => format!("retrying in {} s", in_ms.div_ceil(1000)),
                NextAttempt::GivingUp => "giving up".to_string(),
            };
            format!(
                "attempt {attempt} failed on {}: {error}; {next}",
                names.label(converter)
            )
        }
        Waiting::ResultHeldOffline { converter } => format!(
            "converter {} holds the result but is offline; waiting for it to return",
            names.label(converter)
        ),
        Waiting::Offline { converter } => format!(
            "this node is offline; converter {} keeps the item until it returns",
            names.label(converter)
        ),
        Waiting::Silent {
            converter,
            silent_ms,
            lease_ms,
        } => format!(
            "no word from converter {} for {} s; it goes to another converter after {} s",
            names.label(converter),
            silent_ms / 1000,
            lease_ms / 1000
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmc_protocol::NodeId;

    #[test]
    fn every_reason_reads_as_before() {
        let c = || NodeId::new("12D3KooWcoverterABCDEF");
        let failed = |next| Waiting::AfterFailure {
            attempt: 2,
            converter: c(),
            error: "ffmpeg exited 1".into(),
            next,
        };
        let cases = [
            (
                Waiting::ForConverter,
                "waiting for a converter that accepts this item",
            ),
            (
                Waiting::GivenBack {
                    converter: c(),
                    reason: "converter shutting down".into(),
                },
                "converter verterABCDEF gave it back (converter shutting down); waiting for a \
                 converter",
            ),
            (
                Waiting::Rejected {
                    converter: c(),
                    reason: "insufficient disk".into(),
                },
                "converter verterABCDEF rejected it: insufficient disk; waiting for another \
                 converter",
            ),
            (
                failed(NextAttempt::Retry { in_ms: 4_001 }),
                "attempt 2 failed on verterABCDEF: ffmpeg exited 1; retrying in 5 s",
            ),
            (
                failed(NextAttempt::GivingUp),
                "attempt 2 failed on verterABCDEF: ffmpeg exited 1; giving up",
            ),
            (
                failed(NextAttempt::WaitingForConverter),
                "attempt 2 failed on verterABCDEF: ffmpeg exited 1; waiting for a converter",
            ),
            (
                Waiting::ResultHeldOffline { converter: c() },
                "converter verterABCDEF holds the result but is offline; waiting for it to \
                 return",
            ),
            (
                Waiting::Offline { converter: c() },
                "this node is offline; converter verterABCDEF keeps the item until it returns",
            ),
            (
                Waiting::Silent {
                    converter: c(),
                    silent_ms: 20_999,
                    lease_ms: 120_000,
                },
                "no word from converter verterABCDEF for 20 s; it goes to another converter \
                 after 120 s",
            ),
        ];
        for (waiting, text) in cases {
            assert_eq!(waiting_text(&waiting, &Names::default()), text);
        }
    }

    #[test]
    fn a_retry_says_when_the_next_attempt_starts_and_names_the_converter() {
        let converter = NodeId::new("12D3KooWcoverterABCDEF");
        let names = Names::new([(&converter, "studio")]);
        let w = Waiting::AfterFailure {
            attempt: 1,
            converter: converter.clone(),
            error: "ffmpeg exited 1".into(),
            next: NextAttempt::Retry { in_ms: 29_500 },
        };
        // 20:43:17.123 UTC plus 29.5 s.
        assert_eq!(
            waiting_text_at(&w, 1_764_103_397_123, &names),
            "attempt 1 failed on studio: ffmpeg exited 1; next attempt at 20:43:46 UTC, in 30 s"
        );
        assert_eq!(
            waiting_text_at(&Waiting::ForConverter, 0, &names),
            waiting_text(&Waiting::ForConverter, &names)
        );
    }
}
