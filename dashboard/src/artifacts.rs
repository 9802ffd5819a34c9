//! The artifact browser: the store's folders one level at a time (`models/{symbol}/{tf}/
//! {version}/`, `latest.json`, `bars/` snapshots) with sizes and times, a JSON file shown
//! (a manifest, a latest pointer), any file downloaded. It only reads: read-only store
//! credentials are enough (README).

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use fleet::store::Folder;
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use crate::Sources;
use crate::pages::{Ctx, PageError, as_html, as_json, encode, error_page, layout};

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
    size: u64,
    /// Its text, pretty-printed if JSON; `None` if binary or too large to show.
    text: Option<String>,
}

async fn file_page(sources: &Sources, key: &str) -> Result<FilePage, PageError> {
    let store = sources.store()?;
    let info = store.file_info(key).await?;
    let small = usize::try_from(info.size).is_ok_and(|size| size <= SHOWN_AT_MOST);
    let bytes = if small { Some(store.read(key).await?) } else { None };
    let text = bytes.as_deref().and_then(|bytes| std::str::from_utf8(bytes).ok()).map(|text| {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_else(|_| text.to_owned()),
            Err(_) => text.to_owned(),
        }
    });
    Ok(FilePage { key: key.to_owned(), size: info.size, text })
}

pub(crate) async fn file(State(sources): Ctx, Query(query): Query<FileQuery>) -> Response {
    as_html(file_page(&sources, &query.key).await, render_file)
}

/// The file's bytes as stored, streamed, as an attachment named after its last part.
pub(crate) async fn download(State(sources): Ctx, Query(query): Query<FileQuery>) -> Response {
    let opened = async { Ok::<_, PageError>(sources.store()?.read_stream(&query.key).await?) };
    match opened.await {
        Ok((file, stream)) => {
            // The name is a store key's part: quote-safe once its quotes and controls are gone.
            let name: String =
                last_part(&file.key).chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect();
            let kind = if name.ends_with(".json") { "application/json" } else { "application/octet-stream" };
            (
                [
                    (header::CONTENT_TYPE, kind.to_owned()),
                    (header::CONTENT_LENGTH, file.size.to_string()),
                    (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
                ],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Err(error) => error_page(error),
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

/// The links up to a key: the root, then each folder on the way (a file's own name is not
/// a folder to link).
fn breadcrumbs(key: &str, is_file: bool) -> Markup {
    let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
    let folders = if is_file { parts.len().saturating_sub(1) } else { parts.len() };
    html! {
        p.crumbs {
            a href="/artifacts" { "store" }
            @for (i, part) in parts.iter().enumerate() {
                " / "
                @if i < folders { a href={ "/artifacts?prefix=" (encode(&parts[..=i].join("/"))) } { (part) } }
                @else { (part) }
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
            (breadcrumbs(&folder.prefix, false))
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
    layout(
        last_part(&page.key),
        &html! {
            h1 { (last_part(&page.key)) }
            (breadcrumbs(&page.key, true))
            p {
                (size(page.size)) " · "
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
