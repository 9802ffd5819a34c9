//! A network of hosts on this machine, for the across-hosts suite: each host a network
//! namespace of its own, joined by a veth pair to a bridge. The bridge's address is the
//! services' side (Redis, Postgres, S3, reached through proxies bound to it), so a fleet's
//! processes in the namespaces reach them only over the bridge, as over a network: a link set
//! down is a real partition, and the proxies can stall or cut what crosses them.
//!
//! Needs root (CI is root) and `ip`; everything made is removed on drop.

use std::process::{Command, Stdio};

use crate::{FleetEnv, Process, TcpProxy, TestFleet};

/// One lab: a bridge, its subnet `10.77.{n}.0/24`, the hosts on it and the proxies to the
/// services.
#[derive(Debug)]
pub struct NetLab {
    /// Distinguishes this lab's interfaces and namespaces from another test's.
    n: u8,
    bridge: String,
    hosts: Vec<Host>,
}

/// A host: a network namespace with one link to the lab's bridge.
#[derive(Debug, Clone)]
pub struct Host {
    pub namespace: String,
    pub addr: String,
    /// The bridge's end of the host's link: down is a partition.
    link: String,
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("ip runs");
    assert!(status.success(), "ip {args:?} failed: the across-hosts suite needs root");
}

impl NetLab {
    /// A lab whose number no other lab on the machine holds: the first bridge name free
    /// (the kernel's `ip link add` is the lock; tests run in parallel processes).
    pub fn new() -> Self {
        for n in 0..=250_u8 {
            let bridge = format!("bfbr{n}");
            let created = Command::new("ip")
                .args(["link", "add", &bridge, "type", "bridge"])
                .stderr(Stdio::null())
                .status()
                .expect("ip runs");
            if created.success() {
                ip(&["addr", "add", &format!("10.77.{n}.1/24"), "dev", &bridge]);
                ip(&["link", "set", &bridge, "up"]);
                return Self { n, bridge, hosts: Vec::new() };
            }
        }
        panic!("no free lab bridge (bfbr0-250): the across-hosts suite needs root, or stale labs fill them");
    }

    /// The services' address, on the bridge.
    pub fn services_addr(&self) -> String {
        format!("10.77.{}.1", self.n)
    }

    /// A new host on the lab's network.
    pub fn host(&mut self, name: &str) -> Host {
        let k = self.hosts.len() + 2;
        let namespace = format!("bf{}-{name}", self.n);
        let (link, inside) = (format!("bf{}h{k}", self.n), format!("bf{}h{k}in", self.n));
        // Leftovers of a lab of this number that a killed test could not remove.
        let _ = Command::new("ip").args(["netns", "del", &namespace]).stderr(Stdio::null()).status();
        let _ = Command::new("ip").args(["link", "del", &link]).stderr(Stdio::null()).status();
        ip(&["netns", "add", &namespace]);
        ip(&["link", "add", &link, "type", "veth", "peer", "name", &inside]);
        ip(&["link", "set", &inside, "netns", &namespace]);
        ip(&["link", "set", &link, "master", &self.bridge]);
        ip(&["link", "set", &link, "up"]);
        let addr = format!("10.77.{}.{k}", self.n);
        let exec = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &namespace, "ip"];
            all.extend(args);
            ip(&all);
        };
        exec(&["addr", "add", &format!("{addr}/24"), "dev", &inside]);
        exec(&["link", "set", &inside, "up"]);
        exec(&["link", "set", "lo", "up"]);
        let host = Host { namespace, addr, link };
        self.hosts.push(host.clone());
        host
    }

    /// `env`'s fleet as a host of the lab reaches it: Postgres, the S3 server and `env`'s
    /// Redis (a server of the test's own) each through a proxy of its own on the bridge,
    /// which the test may shape or cut. One per host, for links of their own.
    pub fn fleet<'a>(&self, env: &'a FleetEnv) -> LabFleet<'a> {
        let s3 = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:9000".to_owned());
        let redis = env.redis_url.trim_start_matches("redis://").trim_end_matches('/');
        let ip = self.services_addr();
        LabFleet {
            env,
            database: TcpProxy::start_on(&ip, "127.0.0.1:5432"),
            redis: TcpProxy::start_on(&ip, redis),
            s3: TcpProxy::start_on(&ip, s3.trim_start_matches("http://")),
            ip,
        }
    }

    /// Cuts every link of `host`, both ways, until [`Self::heal`].
    pub fn partition(&self, host: &Host) {
        ip(&["link", "set", &host.link, "down"]);
    }

    pub fn heal(&self, host: &Host) {
        ip(&["link", "set", &host.link, "up"]);
    }
}

impl Default for NetLab {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        for host in &self.hosts {
            let _ = Command::new("ip").args(["netns", "del", &host.namespace]).status();
            let _ = Command::new("ip").args(["link", "del", &host.link]).stderr(Stdio::null()).status();
        }
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).status();
    }
}

/// A fleet whose processes reach its services at the lab's addresses only, each through a
/// proxy the test may shape ([`TcpProxy::shape`]) or cut.
#[derive(Debug)]
pub struct LabFleet<'a> {
    pub env: &'a FleetEnv,
    pub database: TcpProxy,
    pub redis: TcpProxy,
    pub s3: TcpProxy,
    ip: String,
}

impl LabFleet<'_> {
    /// Every link of this fleet's, shaped alike.
    pub fn shape(&self, shape: Option<crate::LinkShape>) {
        for proxy in [&self.database, &self.redis, &self.s3] {
            proxy.shape(shape);
        }
    }
}

impl TestFleet for LabFleet<'_> {
    fn apply<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        let url = |proxy: &TcpProxy| format!("{}:{}", self.ip, proxy.port);
        self.env
            .apply(command)
            .env("DATABASE_URL", self.env.database.url().replace("127.0.0.1:5432", &url(&self.database)))
            .env("REDIS_URL", format!("redis://{}", url(&self.redis)))
            .env("AWS_ENDPOINT_URL", format!("http://{}", url(&self.s3)))
    }
}

impl Host {
    /// `command` run inside this host's namespace, with its program, arguments and settings.
    pub fn wrap(&self, command: &Command) -> Command {
        let mut inside = Command::new("ip");
        inside.args(["netns", "exec", &self.namespace]).arg(command.get_program()).args(command.get_args());
        for (name, value) in command.get_envs() {
            match value {
                Some(value) => inside.env(name, value),
                None => inside.env_remove(name),
            };
        }
        inside
    }

    /// A fleet's binary, started on this host with info logs collected as lines.
    pub fn spawn(&self, fleet: &impl TestFleet, name: &str, args: &[&str]) -> Process {
        let mut command = self.wrap(&fleet.command(name, args));
        command
            .env("RUST_LOG", "info")
            .env("LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Process::spawn(&format!("{name}@{}", self.namespace), &mut command)
    }

    /// A fleet's binary run to its end on this host.
    pub fn run(&self, fleet: &impl TestFleet, name: &str, args: &[&str]) -> std::process::Output {
        crate::run(&mut self.wrap(&fleet.command(name, args)))
    }
}
