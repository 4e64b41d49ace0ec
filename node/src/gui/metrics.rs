//! `GET /metrics`: a few gauges in Prometheus' text format, read from the control API's own
//! answers when scraped (nothing is counted while nobody asks): items known and open (the
//! queue), peers known and online, converters online and their workers.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::control::api::ListQuery;
use crate::control::ApiError;
use crate::core::CoreHandle;

pub(super) async fn metrics(State(core): State<CoreHandle>) -> Result<impl IntoResponse, ApiError> {
    let query = ListQuery {
        all: true,
        limit: Some(1),
        ..Default::default()
    };
    let page = core
        .list(query.check().map_err(ApiError::bad_request)?)
        .await?;
    let peers = core.peers().await?;
    let online: Vec<_> = peers.iter().filter(|p| p.online).collect();
    let converters: Vec<_> = online.iter().filter(|p| p.role == "converter").collect();
    let workers: u64 = converters
        .iter()
        .filter_map(|p| p.workers)
        .map(u64::from)
        .sum();
    let free: u64 = converters
        .iter()
        .filter_map(|p| p.free_slots)
        .map(u64::from)
        .sum();
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, rows: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    gauge(
        "dmc_items",
        "Items this node knows, of the whole network; open: not ended (the queue).",
        &[
            ("{state=\"all\"}", page.total),
            ("{state=\"open\"}", page.open),
        ],
    );
    gauge(
        "dmc_peers",
        "Other nodes this node knows, and those connected now.",
        &[
            ("{state=\"known\"}", peers.len() as u64),
            ("{state=\"online\"}", online.len() as u64),
        ],
    );
    gauge(
        "dmc_converter_workers",
        "Workers of the converters online: all, and those no item is assigned to.",
        &[("{state=\"all\"}", workers), ("{state=\"free\"}", free)],
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}
