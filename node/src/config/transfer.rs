//! `[transfer]`: the rate limit of transfers, written like `20MiB` (per second).

/// Parses a rate such as `unlimited`, `0`, `500KiB`, `2MiB`, `1GiB` or `1000000` (bytes/s).
pub fn parse_rate(s: &str) -> Result<Option<u64>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("unlimited") || t == "0" {
        return Ok(None);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a rate; e.g. \"unlimited\", \"500KiB\", \"20MiB\""))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{s}`; use B, KiB, MiB or GiB (per second)"
            ))
        }
    };
    Ok(Some(n.saturating_mul(mult)).filter(|v| *v > 0))
}
