//! The artifact browser: the store's folders one level at a time (`models/{symbol}/{tf}/
//! {version}/`, `latest.json`, `bars/` snapshots) with sizes and times, a JSON file shown
//! (a manifest, a latest pointer), any file downloaded. It only reads: read-only store
//! credentials are enough (README).

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use fleet::store::Folder;
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use crate::Sources;
use crate::pages::{Ctx, PageError, as_html, as_json, encode, layout};

/// Files larger than this are offered for download, not shown.
const SHOWN_AT_MOST: usize = 1 << 20;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FolderQuery {
    pub prefix: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FileQuery {
    pub key: String,
}

/// One folder of the store.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FolderPage {
    /// `ARTIFACTS_URL` (a bucket and prefix or a folder: no credential).
    pub store: String,
    #[serde(flatten)]
    pub folder: Folder,
}

async fn folder_page(sources: &Sources, query: &FolderQuery) -> Result<FolderPage, PageError> {
    let store = sources.store()?;
    Ok(FolderPage { store: store.url().to_owned(), folder: store.browse(&query.prefix).await? })
}

pub(crate) async fn folder(State(sources): Ctx, Query(query): Query<FolderQuery>) -> Response {
    as_html(folder_page(&sources, &query).await, render_folder)
}

pub(crate) async fn folder_json(State(sources): Ctx, Query(query): Query<FolderQuery>) -> Response {
    as_json(folder_page(&sources, &query).await)
}

/// A file of the store, shown.
struct FilePage {
    key: String,
    size: usize,
    /// Its text, pretty-printed if JSON; `None` if binary or too large to show.
    text: Option<String>,
}

async fn file_page(sources: &Sources, key: &str) -> Result<FilePage, PageError> {
    let bytes = sources.store()?.read(key).await?;
    let text =
        (bytes.len() <= SHOWN_AT_MOST).then(|| std::str::from_utf8(&bytes).ok()).flatten().map(|text| {
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_else(|_| text.to_owned()),
                Err(_) => text.to_owned(),
            }
        });
    Ok(FilePage { key: key.to_owned(), size: bytes.len(), text })
}

pub(crate) async fn file(State(sources): Ctx, Query(query): Query<FileQuery>) -> Response {
    as_html(file_page(&sources, &query.key).await, render_file)
}

/// The file's bytes as stored, as an attachment named after its last part.
pub(crate) async fn download(State(sources): Ctx, Query(query): Query<FileQuery>) -> Response {
    let read = async { Ok::<_, PageError>(sources.store()?.read(&query.key).await?) };
    match read.await {
        Ok(bytes) => {
            let name = query.key.rsplit('/').next().unwrap_or("file");
            // The name is a store key's part: quote-safe once its quotes and controls are gone.
            let name: String = name.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect();
            let kind = if name.ends_with(".json") { "application/json" } else { "application/octet-stream" };
            (
                [
                    (header::CONTENT_TYPE, kind.to_owned()),
                    (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
                ],
                bytes,
            )
                .into_response()
        }
        Err(error) => as_json(Err::<(), _>(error)),
    }
}

/// A byte count in the largest unit that keeps it above 1.
fn size(bytes: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "sizes are shown to one decimal")]
    let value = bytes as f64;
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", value / 1024.0),
        _ => format!("{:.1} MiB", value / 1_048_576.0),
    }
}

/// A folder key's last part, for its link text.
fn last_part(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// The links up to a key: the root, then each folder on the way.
fn breadcrumbs(key: &str) -> Markup {
    let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
    html! {
        p.crumbs {
            a href="/artifacts" { "store" }
            @for (i, part) in parts.iter().enumerate() {
                " / " a href={ "/artifacts?prefix=" (encode(&parts[..=i].join("/"))) } { (part) }
            }
        }
    }
}

fn render_folder(page: &FolderPage) -> Markup {
    let folder = &page.folder;
    layout(
        "artifacts",
        &html! {
            h1 { "Artifacts " span.muted { (page.store) } }
            (breadcrumbs(&folder.prefix))
            table #listing {
                thead { tr { th { "Name" } th { "Size" } th { "Modified" } th { "" } } }
                tbody {
                    @for sub in &folder.folders {
                        tr.folder {
                            td { a href={ "/artifacts?prefix=" (encode(sub)) } { (last_part(sub)) "/" } }
                            td {} td {} td {}
                        }
                    }
                    @for file in &folder.files {
                        tr.file {
                            td { a href={ "/artifacts/file?key=" (encode(&file.key)) } { (last_part(&file.key)) } }
                            td.num { (size(file.size)) }
                            td { (file.modified.format("%Y-%m-%d %H:%M:%S")) }
                            td { a.download href={ "/artifacts/download?key=" (encode(&file.key)) } download { "download" } }
                        }
                    }
                }
            }
            @if folder.folders.is_empty() && folder.files.is_empty() { p.muted { "This folder is empty." } }
        },
    )
}

fn render_file(page: &FilePage) -> Markup {
    let size = u64::try_from(page.size).unwrap_or(u64::MAX);
    layout(
        last_part(&page.key),
        &html! {
            h1 { (last_part(&page.key)) }
            (breadcrumbs(&page.key))
            p {
                (self::size(size)) " · "
                a.download href={ "/artifacts/download?key=" (encode(&page.key)) } download { "download" }
            }
            @if let Some(text) = &page.text { pre #content { (text) } }
            @else { p.muted { "Binary, or too large to show: download it." } }
        },
    )
}

/// A store key the reader named that is not there, or not a key: 404 or 400, not 503.
impl From<fleet::store::StoreError> for PageError {
    fn from(error: fleet::store::StoreError) -> Self {
        use fleet::store::StoreError;
        match error {
            StoreError::NotFound { .. } => Self::Refused(StatusCode::NOT_FOUND, error.to_string()),
            StoreError::BadKey { .. } => Self::Refused(StatusCode::BAD_REQUEST, error.to_string()),
            other => Self::Unavailable { service: "artifact store", error: other.to_string() },
        }
    }
}
