//! `status`, `list`, `fetch`, `cancel` and `priority`.

use std::path::Path;

use anyhow::{Context, Result};

use crate::client::Client;
use dmc_node::control::api::{ListQuery, DEFAULT_LIST_LIMIT};

use crate::output::{emit, item_block, items_table, json, queue_line, safe, thousands};
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

/// Which page `list` shows.
pub struct Page {
    pub all: bool,
    pub limit: u32,
    pub offset: u64,
}

pub async fn list(client: &Client, page: Page, as_json: bool) -> Result<()> {
    let query = ListQuery {
        all: page.all,
        limit: Some(page.limit),
        offset: Some(page.offset),
        ..Default::default()
    };
    let answer = client.list(&query).await?;
    if as_json {
        return emit(&json(&answer)?);
    }
    // While the node fills in an upgraded database, items it has not read yet are missing.
    let upgrading = answer
        .upgrading
        .map(|u| format!("{}; items not read yet are not listed\n", u.text()))
        .unwrap_or_default();
    if answer.items.is_empty() {
        return emit(&(upgrading + &no_items(&page, answer.total)));
    }
    let mut text = upgrading + &items_table(&answer.items, crate::style::stdout());
    // The node's estimate covers every item still to do, on any page: shown under the first.
    if answer.offset == 0 {
        text.extend(answer.queue.as_ref().and_then(queue_line));
    }
    if let Some(next) = answer.next_offset {
        text.push_str(&more_line(&page, answer.more(), next));
    }
    emit(&text)
}

/// What an empty page says.
fn no_items(page: &Page, total: u64) -> String {
    if total > 0 {
        return format!(
            "no items at offset {}: there are {}\n",
            thousands(page.offset),
            thousands(total)
        );
    }
    let hint = if page.all {
        ""
    } else {
        " offered by this node; `dmc list --all` shows every item known"
    };
    format!("no items{hint}\n")
}

/// `… 1,234 more: dmc list --all --offset 50`, the command that shows the next page.
fn more_line(page: &Page, more: u64, next: u64) -> String {
    let all = if page.all { " --all" } else { "" };
    let limit = if page.limit == DEFAULT_LIST_LIMIT {
        String::new()
    } else {
        format!(" --limit {}", page.limit)
    };
    format!(
        "… {} more: dmc list{all}{limit} --offset {next}\n",
        thousands(more)
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

pub async fn priority(client: &Client, item: &str, priority: i32, as_json: bool) -> Result<()> {
    let id = resolve_item(client, item).await?;
    let view = client.set_priority(id, priority).await?;
    emit(&if as_json {
        json(&view)?
    } else {
        format!(
            "{} ({}): priority {}, {}\n",
            view.item_id,
            safe(&view.file_name),
            view.priority,
            view.queue_text()
                .unwrap_or_else(|| format!("now {}", view.phase.as_str()))
        )
    })
}
