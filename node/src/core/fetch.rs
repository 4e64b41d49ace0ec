//! `dmc fetch`: a copy of a delivered result, checked against what was delivered, written to
//! a `.part` beside its destination and renamed into place without replacing anything (unless
//! forced). A result that is gone is an error that says how to convert the source again. An
//! item of this node whose records were compacted is fetched from its stored summary.

use std::path::{Path, PathBuf};

use dmc_protocol::wire::FileRole;
use dmc_protocol::{ItemId, NodeId};

use super::files::{copy_new, result_present, sha512_regular, Gone};
use super::handle::{CoreError, Reply};
use super::layout::fetch_part;
use super::names::{rename_noreplace, sync_dir, unique_path};
use super::task::Core;
use crate::control::api::{no_result_text, NoResult};

/// How many free names a fetch tries when others take the one it found first.
const MAX_NAME_TRIES: u32 = 64;

/// One fetch, with what was delivered.
struct FetchJob {
    item: ItemId,
    /// The delivered result in the output folder.
    result: PathBuf,
    size: u64,
    sha512: String,
    /// The item's source on this node, for the way to convert it again.
    source: Option<PathBuf>,
    /// A file or a folder; `None`: the result where it was delivered.
    output: Option<PathBuf>,
    /// Replace an existing destination file.
    force: bool,
}

impl Core {
    /// Starts a fetch of `item`'s result; the copy runs off the core task and answers `reply`.
    pub(super) async fn begin_fetch(
        &self,
        item: ItemId,
        output: Option<PathBuf>,
        force: bool,
        reply: Reply<PathBuf>,
    ) {
        let job = match self.fetch_job(item, output, force).await {
            Ok(job) => job,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        tokio::spawn(async move {
            let r = tokio::task::spawn_blocking(move || job.run())
                .await
                .unwrap_or_else(|e| Err(CoreError::Internal(e.to_string())));
            let _ = reply.send(r);
        });
    }

    /// What was delivered of `item`: from the engine while it holds the item, else from the
    /// stored summary this node keeps of its own items after their records were compacted.
    async fn fetch_job(
        &self,
        item: ItemId,
        output: Option<PathBuf>,
        force: bool,
    ) -> Result<FetchJob, CoreError> {
        let me = self.engine.me();
        let delivered = match self.engine.item(&item) {
            Some(i) => delivery(
                i.output_path.clone(),
                i.result.as_ref().map(|r| (r.file_size, r.sha512.clone())),
                NoResult::of(i),
                me,
            ),
            None => {
                let v = self.status_of(item).await?;
                let result = v.output_file_size.zip(v.output_sha512_checksum.clone());
                delivery(v.output_path.clone(), result, NoResult::of_view(&v), me)
            }
        };
        let (path, size, sha512) = delivered?;
        let source = self
            .files
            .get(&(item, FileRole::Source, 0))
            .map(|f| f.path.clone());
        Ok(FetchJob {
            item,
            result: PathBuf::from(path),
            size,
            sha512,
            source,
            output,
            force,
        })
    }
}

/// Where the origin delivered a result, its size and checksum; or why there is none to fetch
/// here (only the origin receives a result).
fn delivery(
    path: Option<String>,
    result: Option<(u64, String)>,
    item: NoResult,
    me: &NodeId,
) -> Result<(String, u64, String), CoreError> {
    match (path, result) {
        (Some(path), Some((size, sha512))) if item.origin == *me => Ok((path, size, sha512)),
        _ => Err(CoreError::Conflict(no_result_text(&item, me))),
    }
}

impl FetchJob {
    fn run(self) -> Result<PathBuf, CoreError> {
        result_present(&self.result, self.size).map_err(|g| self.gone(g))?;
        let Some(out) = &self.output else {
            // Already where it was delivered: checked in full, since a change may keep the size.
            let sha = sha512_regular(&self.result).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => self.gone(Gone::Missing),
                _ => CoreError::BadRequest(format!("cannot read {}: {e}", self.result.display())),
            })?;
            if sha != self.sha512 {
                return Err(self.gone(Gone::Changed));
            }
            return Ok(self.result.clone());
        };
        let (dir, name) = self.destination(out)?;
        let part = fetch_part(&dir);
        let copied = copy_new(&self.result, &part).map_err(|e| {
            CoreError::BadRequest(format!(
                "cannot copy {} into {}: {e}",
                self.result.display(),
                dir.display()
            ))
        });
        let placed = copied.and_then(|sha| {
            if sha != self.sha512 {
                return Err(self.gone(Gone::Changed));
            }
            self.place(&part, &dir, &name)
        });
        if placed.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        placed
    }

    /// The folder and the name to copy to: into `out` when it is a folder (a link to one is
    /// the user's choice), else `out` itself.
    fn destination(&self, out: &Path) -> Result<(PathBuf, String), CoreError> {
        let file_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
        if out.is_dir() {
            let name = file_name(&self.result).unwrap_or_else(|| "result".into());
            return Ok((out.to_path_buf(), name));
        }
        match (out.parent(), file_name(out)) {
            (Some(dir), Some(name)) => Ok((dir.to_path_buf(), name)),
            _ => Err(CoreError::BadRequest(format!(
                "{} names no file or folder to fetch to",
                out.display()
            ))),
        }
    }

    /// Renames the verified `part` to `dir/name`: replacing what is there with `force`, else
    /// under the first free name (`name (1).ext`, …); then fsyncs the folder.
    fn place(&self, part: &Path, dir: &Path, name: &str) -> Result<PathBuf, CoreError> {
        let failed = |to: &Path, e: std::io::Error| {
            CoreError::BadRequest(format!("cannot write {}: {e}", to.display()))
        };
        let synced = |to: PathBuf| {
            sync_dir(dir)
                .map(|()| to.clone())
                .map_err(|e| failed(&to, e))
        };
        if self.force {
            let to = dir.join(name);
            std::fs::rename(part, &to).map_err(|e| failed(&to, e))?;
            return synced(to);
        }
        for _ in 0..MAX_NAME_TRIES {
            let to = unique_path(dir, name);
            match rename_noreplace(part, &to) {
                Ok(()) => return synced(to),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(failed(&to, e)),
            }
        }
        Err(CoreError::Conflict(format!(
            "no free name for {name} in {} after {MAX_NAME_TRIES} tries",
            dir.display()
        )))
    }

    /// The error for a result that is gone, with the way to convert the source again.
    fn gone(&self, why: Gone) -> CoreError {
        let again = match &self.source {
            Some(s) => format!("`dmc offer {}`", s.display()),
            None => "`dmc offer SOURCE` with the source file".into(),
        };
        CoreError::Conflict(format!(
            "the result of item {} is gone: {} {why}; to convert it again, offer its source \
             again: {again}",
            self.item,
            self.result.display()
        ))
    }
}
