//! The queue's contract, on both backends: Redis (`REDIS_URL`, default 127.0.0.1:6379) and a
//! SQLite file. Jobs, idempotency keys and the results stream behave the same on either.

use std::time::Duration;

use chrono::Utc;
use fleet::config::QueueConfig;
use fleet::queue::results::{self, ResultsConsumer, ResultsPublisher, Unreadable};
use fleet::queue::{Queue, QueueError, Settlement, Taken, Verdict};
use ml_core::job::{JOB_SCHEMA_VERSION, Job, JobKind, JobResult, Outcome};
use uuid::Uuid;

fn ping_result(run_id: Uuid) -> JobResult {
    JobResult {
        schema_version: JOB_SCHEMA_VERSION,
        job_id: Uuid::new_v4(),
        run_id,
        worker_id: None,
        started_at: None,
        finished_at: Utc::now(),
        outcome: Outcome::Ping,
    }
}

async fn contract(queue: &Queue) {
    let run_id = Uuid::new_v4();
    let keyed = |key: &str| Job::new(run_id, JobKind::Ping, Some(key.to_owned()));
    let unkeyed = Job::new(run_id, JobKind::Ping, None);

    assert_eq!(queue.waiting().await.unwrap(), 0, "a new queue is empty");
    let enqueued = queue.push(&[keyed("a"), keyed("a"), unkeyed.clone()]).await.unwrap();
    assert_eq!(enqueued, 2, "the second job with key a is not enqueued");
    assert_eq!(queue.waiting().await.unwrap(), 2);
    let first = keyed("b");
    assert_eq!(queue.push(&[first.clone(), keyed("b")]).await.unwrap(), 1);
    assert_eq!(queue.claimant("b").await.unwrap(), Some(first.job_id), "the first job holds key b");
    assert_eq!(queue.claimant("c").await.unwrap(), None, "nobody holds key c");
    assert_eq!(queue.push(&[keyed("a")]).await.unwrap(), 0, "a claimed key enqueues nothing");
    assert_eq!(queue.push(std::slice::from_ref(&unkeyed)).await.unwrap(), 0, "a job id is queued once");
    queue.release("a").await.unwrap();
    assert_eq!(queue.push(&[keyed("a")]).await.unwrap(), 1, "a released key enqueues again");
    assert_eq!(queue.waiting().await.unwrap(), 4);
    assert!(!queue.is_dead(unkeyed.job_id).await.unwrap(), "a waiting job is not dead");
    assert_eq!(queue.sweep_done(100).await.unwrap(), 0, "no job has finished");

    let published: Vec<JobResult> = (0..3).map(|_| ping_result(run_id)).collect();
    ResultsPublisher::new(queue).publish(&published).await.unwrap();
    assert_eq!(results::backlog(queue).await.unwrap(), 3);
    let mut consumer = ResultsConsumer::new(queue, "contract".to_owned()).await.unwrap();
    let batch = consumer.next_batch(10, Duration::from_millis(100)).await.unwrap();
    let read: Vec<Uuid> = batch.iter().map(|d| d.result.as_ref().unwrap().job_id).collect();
    let sent: Vec<Uuid> = published.iter().map(|r| r.job_id).collect();
    assert_eq!(read, sent, "results come back in order, whole");
    let ids: Vec<String> = batch.iter().map(|d| d.id.clone()).collect();
    consumer.ack(&ids[..2]).await.unwrap();
    assert_eq!(results::backlog(queue).await.unwrap(), 1, "acked results are gone");
    let unreadable = Unreadable { raw: "{}".to_owned(), error: "test".to_owned() };
    consumer.dead_letter(&ids[2], &unreadable).await.unwrap();
    assert_eq!(results::backlog(queue).await.unwrap(), 0, "a dead-lettered result leaves the stream");
    let empty = consumer.next_batch(10, Duration::from_millis(100)).await.unwrap();
    assert!(empty.is_empty(), "nothing is delivered twice after its ack");
}

/// Sends a waiting job to the dead set with `error`, writing what apalis writes when a
/// handler aborts a job (apalis-redis's `handle_results.lua`, apalis-sqlite's `kill.sql`).
async fn kill_as_apalis_does(queue: &Queue, job_id: Uuid, error: &str, at: i64) {
    let task = fleet::queue::task_id(job_id);
    let result = serde_json::json!({ "Err": error }).to_string();
    match queue.backend() {
        fleet::queue::Backend::Redis(conn) => {
            let keys = fleet::queue::jobs_config(queue.prefix());
            let () = redis::pipe()
                .cmd("LREM")
                .arg(keys.active_jobs_list())
                .arg(0)
                .arg(&task)
                .ignore()
                .cmd("SADD")
                .arg(keys.dead_jobs_set())
                .arg(&task)
                .ignore()
                .cmd("HSET")
                .arg(format!("{}:{task}", keys.job_meta_hash()))
                .arg("result")
                .arg(&result)
                .arg("status")
                .arg("Killed")
                .arg("attempts")
                .arg(1)
                .arg("done_at")
                .arg(at)
                .ignore()
                .query_async(&mut conn.clone())
                .await
                .unwrap();
        }
        fleet::queue::Backend::Sqlite(pool) => {
            sqlx::query("update Jobs set status = 'Killed', attempts = 1, last_result = ?1, done_at = ?2 where id = ?3")
                .bind(&result)
                .bind(at)
                .bind(&task)
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

/// The queue page's reads and an operator's actions: depth, dead jobs newest first with
/// their errors, retry and delete of a dead job (and of nothing else).
async fn dead_jobs_contract(queue: &Queue) {
    let before = queue.depth().await.unwrap();
    let jobs: Vec<Job> = (0..3).map(|_| Job::new(Uuid::new_v4(), JobKind::Ping, None)).collect();
    queue.push(&jobs).await.unwrap();
    let now = Utc::now().timestamp();
    kill_as_apalis_does(queue, jobs[0].job_id, "first <script>", now - 10).await;
    kill_as_apalis_does(queue, jobs[1].job_id, "second", now).await;

    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.waiting, depth.dead), (before.waiting + 1, before.dead + 2), "{depth:?}");
    assert_eq!(depth.in_flight, 0, "no worker holds a job");
    let page = queue.dead_jobs(1, 0).await.unwrap();
    assert_eq!(page.total, 2);
    let newest = &page.jobs[0];
    assert_eq!((newest.job_id, newest.error.as_deref()), (jobs[1].job_id, Some("second")), "newest first");
    assert_eq!(newest.attempts, 1);
    assert_eq!(newest.died_at.map(|at| at.timestamp()), Some(now));
    assert!(newest.payload.contains(&jobs[1].job_id.to_string()), "the payload is shown: {}", newest.payload);
    let older = queue.dead_jobs(10, 1).await.unwrap();
    assert_eq!(older.jobs.len(), 1, "the second page");
    assert_eq!(older.jobs[0].error.as_deref(), Some("first <script>"), "the error as the worker wrote it");

    assert!(!queue.retry_dead(jobs[2].job_id).await.unwrap(), "a waiting job is not retried");
    assert!(!queue.delete_dead(jobs[2].job_id).await.unwrap(), "nor deleted");
    assert!(queue.retry_dead(jobs[1].job_id).await.unwrap());
    assert!(!queue.retry_dead(jobs[1].job_id).await.unwrap(), "a retried job is no longer dead");
    assert!(!queue.is_dead(jobs[1].job_id).await.unwrap());
    assert!(queue.delete_dead(jobs[0].job_id).await.unwrap());
    assert!(!queue.delete_dead(jobs[0].job_id).await.unwrap(), "a deleted job is gone");
    let after = queue.depth().await.unwrap();
    assert_eq!((after.waiting, after.dead), (before.waiting + 2, before.dead), "{after:?}");
}

#[tokio::test]
async fn the_sqlite_queue_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::connect(&QueueConfig::sqlite(&dir.path().join("queue.db"), "contract")).await.unwrap();
    contract(&queue).await;
    dead_jobs_contract(&queue).await;
    let reopened =
        Queue::connect(&QueueConfig::sqlite(&dir.path().join("queue.db"), "contract")).await.unwrap();
    assert_eq!(reopened.waiting().await.unwrap(), 6, "the file keeps its jobs across connections");
}

#[tokio::test]
async fn the_sqlite_queue_keeps_the_workers_contract() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::connect(&QueueConfig::sqlite(&dir.path().join("queue.db"), "lease")).await.unwrap();
    lease_contract(&queue).await;
}

#[tokio::test]
async fn the_redis_queue_keeps_the_workers_contract() {
    let scratch = test_support::ScratchRedis::new("lease-contract");
    let queue = Queue::connect(&scratch.queue()).await.unwrap();
    lease_contract(&queue).await;
}

/// Makes `worker`'s last beat a minute old, as if it had died.
async fn silence(queue: &Queue, worker: &str) {
    let a_minute_ago = Utc::now().timestamp() - 60;
    match queue.backend() {
        fleet::queue::Backend::Redis(conn) => {
            let keys = fleet::queue::jobs_config(queue.prefix());
            let () = redis::cmd("ZADD")
                .arg(keys.workers_set())
                .arg(a_minute_ago)
                .arg(worker)
                .query_async(&mut conn.clone())
                .await
                .unwrap();
        }
        fleet::queue::Backend::Sqlite(pool) => {
            sqlx::query("update Workers set last_seen = ?1 where id = ?2")
                .bind(a_minute_ago)
                .bind(worker)
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

fn settle(taken: &Taken, verdict: Verdict, result: Option<String>) -> Settlement {
    Settlement { task_id: taken.task_id.clone(), verdict, result }
}

/// What a worker's pool relies on: jobs taken in order up to the free slots, counted
/// attempts, settlements only by the holder (with their results published in the same
/// step), retries due later, a job handed back first in line without its attempt, a stopping
/// worker's jobs given back, and a dead worker's jobs taken over.
async fn lease_contract(queue: &Queue) {
    let run_id = Uuid::new_v4();
    let jobs: Vec<Job> = (0..4).map(|_| Job::new(run_id, JobKind::Ping, None)).collect();
    queue.push(&jobs).await.unwrap();
    let id = |n: usize| fleet::queue::task_id(jobs[n].job_id);
    let result = |n: usize| Some(format!("{{\"job\": {n}}}"));

    let first = queue.exchange("w1", &[], 2).await.unwrap();
    let taken: Vec<(String, u32)> = first.taken.iter().map(|t| (t.task_id.clone(), t.attempt)).collect();
    assert_eq!(taken, [(id(0), 1), (id(1), 1)], "the first two, in order, first attempts");
    assert_eq!(first.taken[0].payload, serde_json::to_vec(&jobs[0]).unwrap(), "the payload as pushed");
    assert_eq!(queue.waiting().await.unwrap(), 2);
    assert!(queue.holds("w1", &id(0)).await.unwrap());
    assert!(!queue.holds("w2", &id(0)).await.unwrap(), "only the worker that took a job holds it");

    let stolen = queue.exchange("w2", &[settle(&first.taken[0], Verdict::Done, result(0))], 0).await.unwrap();
    assert_eq!(stolen.settled, [false], "a job is settled only by its holder");
    assert_eq!(results::backlog(queue).await.unwrap(), 0, "and the other's result is dropped");
    let settled = [
        settle(&first.taken[0], Verdict::Done, result(0)),
        settle(&first.taken[1], Verdict::Retry { after: Duration::from_secs(1) }, None),
    ];
    let second = queue.exchange("w1", &settled, 0).await.unwrap();
    assert_eq!(second.settled, [true, true]);
    assert!(second.taken.is_empty(), "nothing asked, nothing taken");
    assert_eq!(results::backlog(queue).await.unwrap(), 1, "the result is published with its settlement");
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.waiting, depth.retrying, depth.in_flight), (2, 1, 0), "{depth:?}");

    let third = queue.exchange("w1", &[], 1).await.unwrap();
    assert_eq!(third.taken[0].task_id, id(2));
    let back = queue.exchange("w1", &[settle(&third.taken[0], Verdict::Back, None)], 0).await.unwrap();
    assert_eq!(back.settled, [true]);
    let again = queue.exchange("w2", &[], 1).await.unwrap();
    assert_eq!(
        (again.taken[0].task_id.clone(), again.taken[0].attempt),
        (id(2), 1),
        "first in line, uncounted"
    );
    assert_eq!(queue.give_back("w2").await.unwrap(), 1, "a stopping worker's job goes back");
    let fourth = queue.exchange("w3", &[], 1).await.unwrap();
    assert_eq!((fourth.taken[0].task_id.clone(), fourth.taken[0].attempt), (id(2), 2), "first in line again");

    silence(queue, "w3").await;
    assert_eq!(queue.take_over_orphans("w1").await.unwrap(), 1, "the silent worker's job is taken over");
    assert!(!queue.beat("w3").await.unwrap(), "the silent worker learns it was taken for dead");
    let late = queue.exchange("w3", &[settle(&fourth.taken[0], Verdict::Done, result(2))], 0).await.unwrap();
    assert_eq!(late.settled, [false], "its late settlement is dropped");
    assert_eq!(results::backlog(queue).await.unwrap(), 1, "and so is its result");

    // The retry's own delay (1 s, kept in whole seconds by both backends) must pass: it is
    // the behaviour under test, not a race waited out.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let rest = queue.exchange("w1", &[], 10).await.unwrap();
    let ids: Vec<&str> = rest.taken.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, [id(2), id(3), id(1)], "the taken-over job first, the due retry after the backlog");
    assert_eq!(rest.taken[2].attempt, 2, "a retry is a new attempt");

    let unknown = Taken { task_id: fleet::queue::task_id(Uuid::new_v4()), attempt: 1, payload: Vec::new() };
    let forgotten = queue.exchange("w1", &[settle(&unknown, Verdict::Done, result(9))], 0).await.unwrap();
    assert_eq!(forgotten.settled, [false]);
    assert_eq!(
        results::backlog(queue).await.unwrap(),
        2,
        "the result of a job the queue lost (a Redis that restarted empty) is kept: nobody else has it"
    );
}

/// Entries of a Redis queue that are not whole jobs, written as an evicting server (or a
/// foreign producer) leaves them: the exchange that meets them sends them to the dead set
/// with the reason, and hands the worker the whole job behind them.
#[tokio::test]
async fn redis_entries_that_are_not_whole_jobs_are_dead_lettered_by_the_exchange() {
    let scratch = test_support::ScratchRedis::new("broken-entries");
    let queue = Queue::connect(&scratch.queue()).await.unwrap();
    let [no_metadata, no_payload] =
        test_support::push_broken_entries(&test_support::redis_url(), &scratch.prefix).await;
    let job = Job::new(Uuid::new_v4(), JobKind::Ping, None);
    queue.push(std::slice::from_ref(&job)).await.unwrap();

    let exchange = queue.exchange("w1", &[], 3).await.unwrap();
    assert_eq!(exchange.taken.len(), 1, "{exchange:?}");
    assert_eq!(exchange.taken[0].task_id, fleet::queue::task_id(job.job_id), "the whole job behind them");
    let reasons: Vec<&str> = exchange.poisoned.iter().map(|p| p.reason.as_str()).collect();
    assert!(reasons[0].contains("has no metadata"), "{reasons:?}");
    assert!(reasons[1].contains("has no payload"), "{reasons:?}");
    for id in [no_metadata, no_payload] {
        assert!(queue.is_dead(id).await.unwrap(), "{id} is in the dead set");
    }
    let dead = queue.dead_jobs(10, 0).await.unwrap();
    assert_eq!(dead.total, 2);
    assert!(dead.jobs.iter().all(|job| job.error.as_deref().is_some_and(|e| e.starts_with("queue entry"))));
}

#[tokio::test]
async fn the_redis_queue_keeps_the_contract() {
    let scratch = test_support::ScratchRedis::new("queue-contract");
    let queue = Queue::connect(&scratch.queue()).await.unwrap();
    contract(&queue).await;
    dead_jobs_contract(&queue).await;
}

/// A dead worker's job goes to the head of the waiting list, where the next fetch takes it,
/// not behind the backlog; a live worker's jobs and the caller's own stay where they are.
#[tokio::test]
async fn a_dead_workers_job_is_put_first_in_line_on_redis() {
    let scratch = test_support::ScratchRedis::new("takeover");
    let keys = fleet::queue::jobs_config(&scratch.prefix);
    let mut conn = redis::Client::open(test_support::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let queue = Queue::connect(&scratch.queue()).await.unwrap();
    let jobs: Vec<Job> = (0..4).map(|_| Job::new(Uuid::new_v4(), JobKind::Ping, None)).collect();
    assert_eq!(queue.push(&jobs).await.unwrap(), 4);
    let ids: Vec<String> = jobs.iter().map(|job| fleet::queue::task_id(job.job_id)).collect();
    // Three workers took one job each off the head: one died 60 s ago, one beat just now, and
    // the caller itself last beat long ago (it is asking, so it lives).
    let now = Utc::now().timestamp();
    for (worker, beat, job) in
        [("dead", now - 60, &ids[0]), ("alive", now, &ids[1]), ("caller", now - 60, &ids[2])]
    {
        let () = redis::cmd("LREM")
            .arg(keys.active_jobs_list())
            .arg(1)
            .arg(job)
            .query_async(&mut conn)
            .await
            .unwrap();
        let () = redis::cmd("ZADD")
            .arg(keys.workers_set())
            .arg(beat)
            .arg(worker)
            .query_async(&mut conn)
            .await
            .unwrap();
        let () = redis::cmd("SADD")
            .arg(format!("{}:{worker}", keys.inflight_jobs_set()))
            .arg(job)
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    assert_eq!(queue.take_over_orphans("caller").await.unwrap(), 1);
    let waiting: Vec<String> = redis::cmd("LRANGE")
        .arg(keys.active_jobs_list())
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(waiting, [ids[0].clone(), ids[3].clone()], "the dead worker's job first, then the backlog");
    let workers: Vec<String> =
        redis::cmd("ZRANGE").arg(keys.workers_set()).arg(0).arg(-1).query_async(&mut conn).await.unwrap();
    assert_eq!(workers, ["caller", "alive"], "the dead worker is forgotten");
    assert_eq!(queue.take_over_orphans("caller").await.unwrap(), 0, "nothing is moved twice");
}

/// A queue error from a real Redis server, as the queue wraps it.
async fn redis_error(url: &str, command: &redis::Cmd) -> QueueError {
    let client = redis::Client::open(url).unwrap();
    let outcome: Result<redis::Value, redis::RedisError> = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        command.query_async(&mut conn).await
    }
    .await;
    QueueError::from(outcome.expect_err("the command fails"))
}

#[tokio::test]
async fn a_redis_that_is_away_is_retried_and_a_refused_command_is_not() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let key = format!("bftest-classify-{}", std::process::id());
    let away = redis_error("redis://127.0.0.1:1", &redis::cmd("PING")).await;
    assert!(away.is_retryable(), "a refused connection passes when Redis is back: {away:?}");

    let mut conn =
        redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("SET").arg(&key).arg("a string").query_async(&mut conn).await.unwrap();
    let wrong_type = redis_error(&url, redis::cmd("LPUSH").arg(&key).arg("x")).await;
    let () = redis::cmd("DEL").arg(&key).query_async(&mut conn).await.unwrap();
    assert!(wrong_type.to_string().contains("REDIS_URL"), "{wrong_type}");
    assert!(!wrong_type.is_retryable(), "WRONGTYPE fails the same way every time: {wrong_type:?}");
    let unknown = redis_error(&url, &redis::cmd("NO-SUCH-COMMAND")).await;
    assert!(!unknown.is_retryable(), "an unknown command is never known later: {unknown:?}");
}

#[tokio::test]
async fn a_locked_sqlite_queue_is_retried_and_a_malformed_statement_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::connect(&QueueConfig::sqlite(&dir.path().join("queue.db"), "classify")).await.unwrap();
    let fleet::queue::Backend::Sqlite(pool) = queue.backend() else { unreachable!("a SQLite queue") };
    let malformed = sqlx::query("selec 1").execute(pool).await.unwrap_err();
    assert!(!QueueError::from(malformed).is_retryable(), "a malformed statement never passes");

    // Another connection holds the write lock, and this one will not wait for it.
    let mut writer = pool.begin().await.unwrap();
    sqlx::query("insert into boltfleet_results (queue, result) values ('classify', '{}')")
        .execute(&mut *writer)
        .await
        .unwrap();
    let url = format!("sqlite://{}", dir.path().join("queue.db").display());
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
    let mut impatient = sqlx::ConnectOptions::connect(&options.busy_timeout(Duration::ZERO)).await.unwrap();
    let busy = sqlx::query("insert into boltfleet_results (queue, result) values ('classify', '{}')")
        .execute(&mut impatient)
        .await
        .unwrap_err();
    assert!(QueueError::from(busy).is_retryable(), "a locked file passes when its writer is done");
    writer.rollback().await.unwrap();
}

/// The demo's start-up, many times, on a loaded machine: its collector, two workers and its
/// trigger open a new queue file (and the collector and trigger the results database) at
/// the same moment. Every open succeeds: the first opener sets the files up while the
/// others wait, instead of meeting `database is locked`.
#[test]
fn concurrent_first_opens_of_new_sqlite_files_all_succeed_under_load() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut spin = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    spin = std::hint::black_box(spin.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
                }
            })
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    for round in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        let queue = QueueConfig::sqlite(&dir.path().join("queue.db"), "boltfleet");
        let database = fleet::config::DatabaseConfig::sqlite(&dir.path().join("fleet.db"));
        let failures: Vec<String> = runtime.block_on(async {
            let opens: Vec<_> = (0..4)
                .map(|_| {
                    let queue = queue.clone();
                    tokio::spawn(async move {
                        Queue::connect(&queue).await.map(drop).map_err(|e| format!("{e:?}"))
                    })
                })
                .chain((0..2).map(|_| {
                    let database = database.clone();
                    tokio::spawn(async move {
                        fleet::database::Database::connect(&database)
                            .await
                            .map(drop)
                            .map_err(|e| format!("{e:?}"))
                    })
                }))
                .collect();
            let mut failures = Vec::new();
            for open in opens {
                if let Err(error) = open.await.unwrap() {
                    failures.push(error);
                }
            }
            failures
        });
        assert!(failures.is_empty(), "round {round}: {failures:#?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
}
