//! The filters of `GET /v1/items` (`state`, `origin`, `converter`, `profile`), checked: each
//! a bounded, known kind of value, so the store answers them from its columns.

use dmc_protocol::media::valid_profile_name;
use dmc_protocol::{NodeId, Phase};

/// Every phase, in the order an item goes through them.
const PHASES: [Phase; 12] = [
    Phase::Offered,
    Phase::Rejected,
    Phase::Retrying,
    Phase::Assigned,
    Phase::Accepted,
    Phase::Transferring,
    Phase::Converting,
    Phase::Converted,
    Phase::Delivering,
    Phase::Delivered,
    Phase::Failed,
    Phase::Cancelled,
];

/// The filters of a list query, checked; `None`: any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilters {
    /// Only items in one of these phases (`state=open`, `ended` or one phase).
    pub phases: Option<Vec<Phase>>,
    /// Only items offered by this node.
    pub origin: Option<NodeId>,
    /// Only items whose current converter is this node.
    pub converter: Option<NodeId>,
    /// Only items of this profile.
    pub profile: Option<String>,
}

impl ListFilters {
    /// The filters from a query's texts, or what is wrong with the first that is wrong.
    pub fn check(
        state: Option<&str>,
        origin: Option<&str>,
        converter: Option<&str>,
        profile: Option<&str>,
    ) -> Result<ListFilters, String> {
        Ok(ListFilters {
            phases: state.map(phases_of).transpose()?,
            origin: origin.map(|o| node_id("origin", o)).transpose()?,
            converter: converter.map(|c| node_id("converter", c)).transpose()?,
            profile: profile.map(profile_name).transpose()?,
        })
    }
}

/// The phases of a `state`: `open` (not ended), `ended`, or one phase by name.
fn phases_of(state: &str) -> Result<Vec<Phase>, String> {
    match state {
        "open" => Ok(PHASES.into_iter().filter(|p| !p.is_final()).collect()),
        "ended" => Ok(PHASES.into_iter().filter(|p| p.is_final()).collect()),
        _ => PHASES
            .into_iter()
            .find(|p| p.as_str() == state)
            .map(|p| vec![p])
            .ok_or_else(|| {
                let names: Vec<&str> = PHASES.iter().map(|p| p.as_str()).collect();
                let shown: String = state.chars().take(32).collect();
                format!(
                    "state must be open, ended or a phase ({}), not {shown:?}",
                    names.join(", ")
                )
            }),
    }
}

fn node_id(field: &str, text: &str) -> Result<NodeId, String> {
    let id = NodeId::new(text);
    if id.is_valid() {
        Ok(id)
    } else {
        let shown: String = text.chars().take(64).collect();
        Err(format!(
            "{field} must be a node id as `dmc peers` shows it (12D3KooW…), not {shown:?}"
        ))
    }
}

fn profile_name(text: &str) -> Result<String, String> {
    if valid_profile_name(text) {
        Ok(text.to_string())
    } else {
        let shown: String = text.chars().take(64).collect();
        Err(format!(
            "profile must be a profile name as `dmc profiles` lists them, not {shown:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_ids_and_profiles_are_checked() {
        let f = ListFilters::check(Some("open"), None, None, None).unwrap();
        let open = f.phases.unwrap();
        assert!(open.contains(&Phase::Offered) && open.contains(&Phase::Delivering));
        assert!(!open.iter().any(|p| p.is_final()));
        let f = ListFilters::check(Some("ended"), None, None, None).unwrap();
        assert_eq!(
            f.phases.unwrap(),
            [Phase::Delivered, Phase::Failed, Phase::Cancelled]
        );
        let f = ListFilters::check(
            Some("failed"),
            Some("12D3KooWA"),
            Some("12D3KooWB"),
            Some("mkv-x264"),
        )
        .unwrap();
        assert_eq!(f.phases.unwrap(), [Phase::Failed]);
        assert_eq!(f.origin.unwrap().as_str(), "12D3KooWA");
        assert_eq!(f.converter.unwrap().as_str(), "12D3KooWB");
        assert_eq!(f.profile.unwrap(), "mkv-x264");
        assert_eq!(
            ListFilters::check(None, None, None, None).unwrap(),
            ListFilters::default()
        );

        let long = "x".repeat(200);
        let err = |s, o, c, p| ListFilters::check(s, o, c, p).unwrap_err();
        assert!(err(Some("done"), None, None, None).contains("state must be open, ended"));
        assert!(err(None, Some("a b"), None, None).contains("origin must be a node id"));
        assert!(err(None, None, Some(long.as_str()), None).contains("converter"));
        assert!(err(None, None, None, Some("../x")).contains("profile must be"));
    }
}
