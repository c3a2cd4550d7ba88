//! Network namespaces for the IPPing and TraceRoute tests (root only): one with a host that
//! never answers, and chains of namespaces joined by veth pairs with routing between them.

#[path = "../common/netns.rs"]
#[allow(dead_code)]
mod netns;

use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Whether the tests run as root (namespaces, raw sockets).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A namespace of its own where 10.9.0.2 never answers (its frames leave on a veth whose
/// peer drops them: a static neighbour entry with a MAC nobody has, so no ARP either) and
/// 10.8.0.0/16 has no route at all.
pub fn in_silent_net<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    if !is_root() {
        eprintln!("skipped: network namespaces need root");
        return None;
    }
    netns::in_netns(move || {
        netns::ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        netns::ip(&["addr", "add", "10.9.0.1/24", "dev", "v0"]);
        netns::ip(&["link", "set", "v0", "up"]);
        netns::ip(&["link", "set", "v1", "up"]);
        let neigh = [
            "neigh",
            "add",
            "10.9.0.2",
            "lladdr",
            "02:00:00:00:09:02",
            "dev",
            "v0",
        ];
        netns::ip(&[&neigh[..], &["nud", "permanent"]].concat());
        f()
    })
}

/// Sets a sysctl of the namespace the calling thread is in.
pub fn sysctl(key: &str, value: &str) {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&path, value).unwrap_or_else(|e| panic!("{path}: {e}"));
}

/// Named network namespaces in a chain: 0 is the client, the last the target, the others
/// routers; link k joins k and k+1 with 10.{k+1}.0.1/.2 and fd00:{k+1}::1/::2. Deleted on
/// drop.
pub struct Chain {
    /// The namespaces' names, in chain order.
    pub names: Vec<String>,
}

impl Chain {
    pub fn new(len: usize) -> Option<Chain> {
        if !is_root() {
            eprintln!("skipped: network namespaces need root");
            return None;
        }
        static N: AtomicUsize = AtomicUsize::new(0);
        let tag = format!(
            "dicmp{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let names: Vec<String> = (0..len).map(|i| format!("{tag}-{i}")).collect();
        let chain = Chain { names };
        for (i, n) in chain.names.iter().enumerate() {
            netns::ip(&["netns", "add", n]);
            chain.ip(i, &["link", "set", "lo", "up"]);
            // Routers answer every probe (no ICMP rate limit), forward, and addresses are
            // usable at once (no duplicate address detection).
            for (k, v) in [
                ("net/ipv4/icmp_ratelimit", "0"),
                ("net/ipv6/icmp/ratelimit", "0"),
                ("net/ipv4/ip_forward", "1"),
                ("net/ipv6/conf/all/forwarding", "1"),
                ("net/ipv6/conf/default/accept_dad", "0"),
            ] {
                chain.exec(i, &["sh", "-c", &format!("echo {v} > /proc/sys/{k}")]);
            }
        }
        for k in 0..len - 1 {
            let (a, b) = (format!("l{k}a"), format!("l{k}b"));
            chain.ip(
                k,
                &[
                    "link",
                    "add",
                    &a,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &b,
                    "netns",
                    &chain.names[k + 1],
                ],
            );
            let net = k + 1;
            for (side, dev, host) in [(k, &a, 1), (k + 1, &b, 2)] {
                chain.ip(
                    side,
                    &["addr", "add", &format!("10.{net}.0.{host}/24"), "dev", dev],
                );
                chain.ip(
                    side,
                    &[
                        "addr",
                        "add",
                        &format!("fd00:{net}::{host}/64"),
                        "dev",
                        dev,
                        "nodad",
                    ],
                );
                chain.ip(side, &["link", "set", dev, "up"]);
            }
        }
        // The first packets would be dropped until the kernel's link watch turns the veths
        // on (up to a second after "up").
        for k in 0..len - 1 {
            chain.wait_up(k, &format!("l{k}a"));
            chain.wait_up(k + 1, &format!("l{k}b"));
        }
        // Each node reaches the networks beyond its neighbours through them.
        for i in 0..len {
            for net in 1..len {
                let (left, right) = (net + 1 < i + 1, net > i + 1);
                let via = if left {
                    Some((format!("10.{i}.0.1"), format!("fd00:{i}::1")))
                } else if right {
                    Some((format!("10.{}.0.2", i + 1), format!("fd00:{}::2", i + 1)))
                } else {
                    None
                };
                if let Some((v4, v6)) = via {
                    chain.ip(
                        i,
                        &["route", "add", &format!("10.{net}.0.0/24"), "via", &v4],
                    );
                    chain.ip(
                        i,
                        &[
                            "-6",
                            "route",
                            "add",
                            &format!("fd00:{net}::/64"),
                            "via",
                            &v6,
                        ],
                    );
                }
            }
        }
        Some(chain)
    }

    pub fn ip(&self, i: usize, args: &[&str]) {
        let mut a = vec!["-n", self.names[i].as_str()];
        a.extend_from_slice(args);
        netns::ip(&a);
    }

    pub fn wait_up(&self, i: usize, dev: &str) {
        let t0 = Instant::now();
        loop {
            let o = Command::new("ip")
                .args(["-n", &self.names[i], "-o", "link", "show", "dev", dev])
                .output()
                .expect("run ip");
            if String::from_utf8_lossy(&o.stdout).contains("state UP") {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{dev} never came up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn exec(&self, i: usize, cmd: &[&str]) {
        let o = Command::new("ip")
            .args(["netns", "exec", &self.names[i]])
            .args(cmd)
            .output()
            .expect("run ip netns exec");
        assert!(
            o.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// Runs `f` on a thread inside namespace `i`.
    pub fn run_in<T: Send + 'static>(&self, i: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.names[i]);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).expect("open netns");
            // SAFETY: setns(2) of this thread only, to a namespace file we hold open.
            assert_eq!(
                unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
                0
            );
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}
