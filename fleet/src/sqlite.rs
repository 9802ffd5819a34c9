//! SQLite files that the processes (and tasks) of one machine share: the embedded queue and
//! the embedded results database.
//!
//! Every connection runs in WAL mode with a busy timeout, so that a statement waits for
//! another process's write instead of failing. One step cannot wait that way: switching a
//! new file into WAL mode takes an exclusive lock that SQLite does not retry (`database is
//! locked` at once, whatever the busy timeout), and apalis-sqlite's migrations check then
//! apply without a lock of their own. So a file is opened and set up under [`SetUpLock`], a
//! lock on a file beside it that the first opener holds while the others wait their turn.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// How long a statement waits for another process's write, and an opener for the set-up lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a pool waits for one of its connections.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a process waiting for the set-up lock tries again.
const LOCK_POLL: Duration = Duration::from_millis(20);

/// Opens (creating if missing) the SQLite file `url` names as a pool of `max_connections`,
/// holding the file's [`SetUpLock`]: the caller runs its migrations, then drops the lock.
pub async fn open(url: &str, max_connections: u32) -> Result<(SqlitePool, SetUpLock), sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .busy_timeout(BUSY_TIMEOUT)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let lock = SetUpLock::acquire(options.get_filename()).await?;
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    Ok((pool, lock))
}

/// An exclusive lock on `{file}-lock`, held while a file is created, switched to WAL mode
/// and migrated; released when dropped. (Not a lock on the database file itself: SQLite's
/// own POSIX locks on it would be lost when this process closed another descriptor of it.)
#[derive(Debug)]
pub struct SetUpLock {
    _file: Option<File>,
}

impl SetUpLock {
    async fn acquire(database: &Path) -> Result<Self, sqlx::Error> {
        // An in-memory database is private to its connection: nothing to share.
        if database.as_os_str().is_empty() || database == Path::new(":memory:") {
            return Ok(Self { _file: None });
        }
        // A missing file is created, and so is its folder: `boltfleet collector migrate` on a
        // fresh data directory, as the README runs it.
        if let Some(folder) = database.parent().filter(|folder| !folder.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|e| {
                sqlx::Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot create {}: {e}", folder.display()),
                ))
            })?;
        }
        let path = lock_path(database);
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| {
            sqlx::Error::Io(std::io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))
        })?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: Some(file) }),
                Err(TryLockError::WouldBlock) if started.elapsed() < BUSY_TIMEOUT => {
                    tokio::time::sleep(LOCK_POLL).await;
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("{} stayed locked for {BUSY_TIMEOUT:?} by another process", path.display()),
                    )));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(sqlx::Error::Io(std::io::Error::new(
                        e.kind(),
                        format!("cannot lock {}: {e}", path.display()),
                    )));
                }
            }
        }
    }
}

fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_file_in_a_folder_not_there_yet_is_created_with_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fresh/data/fleet.db");
        let (pool, lock) = super::open(&format!("sqlite://{}", file.display()), 1).await.unwrap();
        drop(lock);
        pool.close().await;
        assert!(file.exists(), "{} created", file.display());
    }
}
