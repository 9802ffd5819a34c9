//! Traces across processes: the producer's command span is the parent of every worker's job
//! span, exported over OTLP/HTTP by each process. No OpenTelemetry collector can be installed
//! here, so the test listens where one would and reads what the processes send it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tests::{EmbeddedEnv, TestFleet};

/// An HTTP endpoint that answers 200 to every request and keeps the bodies.
fn otlp_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let sink = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let sink = sink.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("stream clones"));
                let mut stream = stream;
                // One request after another on a kept-alive connection.
                loop {
                    let mut length = None;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse::<usize>().ok();
                        }
                    }
                    let mut body = vec![0; length.unwrap_or(0)];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    sink.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
                    );
                }
            });
        }
    });
    (endpoint, bodies)
}

/// Every exported span as (service, name, trace id, span id, parent span id).
fn spans(bodies: &[String]) -> Vec<(String, String, String, String, String)> {
    let mut spans = Vec::new();
    for body in bodies {
        let Ok(export) = serde_json::from_str::<Value>(body) else { continue };
        for resource in export["resourceSpans"].as_array().into_iter().flatten() {
            let service = resource["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["key"] == "service.name")
                .and_then(|a| a["value"]["stringValue"].as_str())
                .unwrap_or_default()
                .to_owned();
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    let text = |key: &str| span[key].as_str().unwrap_or_default().to_owned();
                    spans.push((
                        service.clone(),
                        text("name"),
                        text("traceId"),
                        text("spanId"),
                        text("parentSpanId"),
                    ));
                }
            }
        }
    }
    spans
}

#[test]
fn a_run_is_one_trace_from_the_producer_to_every_workers_job() {
    let (endpoint, bodies) = otlp_receiver();
    let env = EmbeddedEnv::new();
    env.run_ok("collector", &["migrate"]);
    let traced = |command: &mut std::process::Command| {
        command.env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint).env("OTEL_BSP_SCHEDULE_DELAY", "200");
    };
    let mut collector = env.command("collector", &["run"]);
    traced(&mut collector);
    let _collector = tests::Process::spawn("collector", collector.stderr(std::process::Stdio::piped()));
    let mut worker = env.command("worker", &["run"]);
    traced(&mut worker);
    worker.env("RUST_LOG", "info").stderr(std::process::Stdio::piped());
    let mut worker = tests::Process::spawn("worker", &mut worker);
    worker.wait_for_log("exporting traces over OTLP", Duration::from_secs(60));

    let mut ping = env.command("producer", &["ping", "--count", "3", "--wait", "--timeout-secs", "60"]);
    traced(&mut ping);
    let output = tests::run(&mut ping);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // SIGTERM: the worker stops and sends the spans it still holds.
    worker.signal("TERM");
    assert!(worker.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()), "the worker stops");

    let spans = spans(&bodies.lock().unwrap());
    let (_, _, trace, root, _) = spans
        .iter()
        .find(|(service, name, ..)| service == "producer" && name == "producer")
        .unwrap_or_else(|| panic!("the producer exported its command span: {spans:?}"))
        .clone();
    let jobs: Vec<_> =
        spans.iter().filter(|(service, name, ..)| service == "worker" && name == "job").collect();
    assert_eq!(jobs.len(), 3, "one span per ping job: {spans:?}");
    for (_, _, job_trace, _, parent) in jobs {
        assert_eq!(job_trace, &trace, "a job's span is in the producer's trace");
        assert_eq!(parent, &root, "and its parent is the producer's command span");
    }
}
