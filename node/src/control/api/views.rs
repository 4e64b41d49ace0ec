//! What the control API returns about offers, peers, profiles and this node.

use dmc_protocol::{MediaType, NodeId};
use serde::{Deserialize, Serialize};

use super::ItemView;

/// What `dmc offer` gets back for one file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OfferOutcome {
    /// True when the same content with the same profile was already offered: `item` is that one.
    pub existing: bool,
    pub item: ItemView,
}

/// One peer, as `dmc peers` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerView {
    pub node_id: NodeId,
    pub name: Option<String>,
    pub addresses: Vec<String>,
    pub online: bool,
    /// RFC 3339; null when never seen.
    pub last_seen: Option<String>,
    /// How long ago `last_seen` was, in seconds, by the node's clock (what `dmc peers` shows
    /// as "3 min ago").
    #[serde(default)]
    pub seen_secs_ago: Option<u64>,
    /// "converter" or "client".
    pub role: String,
    pub media_types: Vec<MediaType>,
    pub profiles: Vec<String>,
    pub workers: Option<u32>,
    /// Workers not taken by items assigned to it (converters only).
    #[serde(default)]
    pub free_slots: Option<u32>,
    /// The converter's speed as this node measured it (realtime factor: a moving average of
    /// what it reported while converting, kept across restarts); what the queue estimate uses.
    #[serde(default)]
    pub measured_speed: Option<f32>,
    /// Set when this node refuses the peer: "rejected: different network" (another network
    /// key) or "rejected: not in allowed_peers". Nothing is exchanged with it.
    #[serde(default)]
    pub rejected: Option<String>,
    /// Set when records from this peer were refused because it sent more than its budget
    /// allows (`[network] peer_records_per_minute`, `peer_bytes_per_minute`): the latest
    /// refusal.
    #[serde(default)]
    pub over_budget: Option<OverBudgetView>,
}

/// The latest refusal of a peer's records over its per-minute budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverBudgetView {
    /// "over budget: more than 10000 new records in a minute", or "… bytes …".
    pub reason: String,
    /// RFC 3339.
    pub at: String,
}

/// One profile, as `dmc profiles` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProfileView {
    pub name: String,
    pub media_types: Vec<MediaType>,
    pub encoder: String,
    pub extension: String,
    /// Whether this node, as a converter, runs it.
    pub local: bool,
    /// Online converters that advertise it.
    pub converters: Vec<NodeId>,
    /// Their names, in the same order.
    #[serde(default)]
    pub converter_names: Vec<String>,
}

/// This node, as `dmc info` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeView {
    pub node_id: NodeId,
    pub name: String,
    pub version: String,
    pub data_dir: String,
    pub listen_addrs: Vec<String>,
    pub converter: bool,
    pub output_dir: String,
    /// Set while the first start after an upgrade fills in the database: the node answers
    /// from what is there and takes no offers until it is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrading: Option<UpgradingView>,
}

/// How far the first start after an upgrade got in filling in the database (`core/upgrade.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradingView {
    /// Items read and settled so far.
    pub done: u64,
    /// Items to read in all; 0 while they are being counted.
    pub total: u64,
}

impl UpgradingView {
    /// The line `status`, `list`, `info` and `doctor` show.
    pub fn text(&self) -> String {
        if self.total == 0 {
            "upgrading the database: counting the items to fill in".into()
        } else {
            format!(
                "upgrading the database: {} of {} items",
                self.done.min(self.total),
                self.total
            )
        }
    }
}
