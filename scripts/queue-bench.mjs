// BullMQ's side of scripts/queue-bench: no-op jobs on a Redis, the same work boltfleet's pings do
// minus the result row. Run by scripts/queue-bench with bullmq installed beside it (pinned there).
//   node queue-bench.mjs work REDIS_URL QUEUE CONCURRENCY   one worker process, prints "ready"
//   node queue-bench.mjs run REDIS_URL QUEUE JOBS           adds JOBS jobs (addBulk, chunks of
//       1,000), waits until all completed, prints {"jobs":N,"seconds":S} timed from the first add
import { Queue, Worker } from "bullmq";

const [mode, url, name, count] = process.argv.slice(2);
const { hostname, port } = new URL(url);
const connection = { host: hostname, port: Number(port) };

if (mode === "work") {
  const worker = new Worker(name, async () => {}, { connection, concurrency: Number(count) });
  await worker.waitUntilReady();
  console.log("ready");
  const stop = async () => { await worker.close(); process.exit(0); };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else if (mode === "run") {
  const jobs = Number(count);
  const queue = new Queue(name, { connection });
  const started = process.hrtime.bigint();
  for (let first = 0; first < jobs; first += 1000) {
    const chunk = [];
    for (let i = first; i < Math.min(first + 1000, jobs); i++) chunk.push({ name: "ping", data: { i } });
    await queue.addBulk(chunk);
  }
  for (;;) {
    const { completed } = await queue.getJobCounts("completed");
    if (completed >= jobs) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({ jobs, seconds }));
  await queue.close();
} else {
  console.error(`unknown mode ${mode}: work or run`);
  process.exit(2);
}
