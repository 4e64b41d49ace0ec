//! `status`, `list`, `fetch` and `cancel`.

use std::path::Path;

use anyhow::{Context, Result};

use crate::client::Client;
use crate::output::{emit, item_block, items_table, json, queue_line, safe};
use crate::resolve::resolve_item;

pub async fn status(client: &Client, item: &str, as_json: bool) -> Result<()> {
    let id = resolve_item(client, item).await?;
    let view = client.status(id).await?;
    emit(&if as_json {
        json(&view)?
    } else {
        item_block(&view)
    })
}

pub async fn list(client: &Client, all: bool, as_json: bool) -> Result<()> {
    let items = client.list(all).await?;
    if as_json {
        return emit(&json(&items)?);
    }
    if items.is_empty() {
        let hint = if all {
            ""
        } else {
            " offered by this node; `dmc list --all` shows every item known"
        };
        return emit(&format!("no items{hint}\n"));
    }
    let mut text = items_table(&items, crate::style::stdout());
    text.extend(queue_line(&items, online_converters(client).await));
    emit(&text)
}

/// Converters online, this node included; `None` when the node cannot say.
async fn online_converters(client: &Client) -> Option<usize> {
    let me = usize::from(client.info().await.ok()?.converter);
    let peers = client.peers().await.ok()?;
    Some(
        me + peers
            .iter()
            .filter(|p| p.online && p.role == "converter")
            .count(),
    )
}

pub async fn fetch(
    client: &Client,
    item: &str,
    output: Option<&Path>,
    force: bool,
    as_json: bool,
) -> Result<()> {
    let id = resolve_item(client, item).await?;
    let output = match output {
        Some(p) => Some(
            std::path::absolute(p)
                .with_context(|| format!("cannot make {} absolute", p.display()))?,
        ),
        None => None,
    };
    let answer = client.fetch(id, output.as_deref(), force).await?;
    emit(&if as_json {
        json(&answer)?
    } else if output.is_some() {
        format!("fetched {id} to {}\n", safe(&answer.path))
    } else {
        format!("the result of {id} is at {}\n", safe(&answer.path))
    })
}

pub async fn cancel(client: &Client, item: &str, as_json: bool) -> Result<()> {
    let id = resolve_item(client, item).await?;
    let view = client.cancel(id).await?;
    emit(&if as_json {
        json(&view)?
    } else {
        format!(
            "cancelled {} ({}): now {}\n",
            view.item_id,
            safe(&view.file_name),
            view.phase.as_str()
        )
    })
}
