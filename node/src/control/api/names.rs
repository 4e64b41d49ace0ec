//! How tables and texts name a node: by its name, with its id ending ([`NodeId::short`]) only
//! when the name is missing or another node has it too.

use std::collections::HashMap;

use dmc_protocol::NodeId;

/// The label of each known node, made once when a view is made.
#[derive(Clone, Debug, Default)]
pub struct Names {
    labels: HashMap<NodeId, String>,
}

impl Names {
    /// Labels for `nodes` (id, name): a name two nodes share gets each one's id ending.
    pub fn new<'a>(nodes: impl IntoIterator<Item = (&'a NodeId, &'a str)>) -> Names {
        let nodes: Vec<(&NodeId, &str)> = nodes.into_iter().collect();
        let mut count: HashMap<&str, usize> = HashMap::new();
        for (_, name) in &nodes {
            *count.entry(name).or_default() += 1;
        }
        let labels = nodes
            .iter()
            .filter(|(_, name)| !name.trim().is_empty())
            .map(|(id, name)| {
                let label = if count[name] > 1 {
                    format!("{name} ({})", id.short())
                } else {
                    name.to_string()
                };
                ((*id).clone(), label)
            })
            .collect();
        Names { labels }
    }

    /// `id`'s name, or its id ending when it has none (or an unknown node).
    pub fn label(&self, id: &NodeId) -> String {
        self.labels
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.short().to_string())
    }

    /// Whether `id` has a name of its own.
    pub fn has_name(&self, id: &NodeId) -> bool {
        self.labels.contains_key(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_shown_with_an_id_ending_only_when_shared_or_missing() {
        let (a, b, c, d) = (
            NodeId::new("12D3KooWaaaaaaaaaaaaaaaaaaa1"),
            NodeId::new("12D3KooWbbbbbbbbbbbbbbbbbbb2"),
            NodeId::new("12D3KooWccccccccccccccccccc3"),
            NodeId::new("12D3KooWddddddddddddddddddd4"),
        );
        let names = Names::new([(&a, "studio"), (&b, "laptop"), (&c, "laptop")]);
        assert_eq!(names.label(&a), "studio");
        assert_eq!(names.label(&b), "laptop (bbbbbbbbbbb2)");
        assert_eq!(names.label(&c), "laptop (ccccccccccc3)");
        assert_eq!(names.label(&d), d.short());
        assert!(!names.has_name(&d));
    }
}
