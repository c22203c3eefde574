//! A NAT lab in Linux network namespaces, for tests of what crosses real NAT.
//!
//! [`NatLab`] builds, on this machine and invisible to its own network:
//!
//! - an "internet": a namespace holding a bridge, the public segment `203.0.113.0/24`
//!   (TEST-NET-3, so nothing real can be reached even by mistake);
//! - a public host on it at `203.0.113.2`, for a rendezvous server;
//! - N NAT routers, router `i` with its public leg at `203.0.113.(10+i)` and a private LAN
//!   `10.(i+1).0.0/24` (or `10.0.0.0/24` for every router, see
//!   [`NatLabBuilder::same_private_subnet`]) on a bridge, gateway `.1`;
//! - M hosts behind each router at `.10`, `.11`, ... of its LAN, default route via it.
//!
//! Every router masquerades what leaves its public leg and drops what arrives there
//! unsolicited (conntrack state NEW), in INPUT and FORWARD, as a function's NAT does;
//! replies and punched holes pass. A symmetric lab masquerades with `--random-fully`, so
//! each connection gets its own public port and hole punching cannot work.
//!
//! Names carry the process id and a per-process counter (`fcclnat-PID-N-r0h1`), so labs of
//! parallel tests and parallel runs never meet; interfaces are created inside the
//! namespaces, so their short fixed names (`eth0`, `wan`, `lan`) cannot clash either. The
//! lab deletes its namespaces when dropped, also when the test panics, and a failed build
//! deletes what it had made. Labs of a killed test process are removed by the next build.
//!
//! Needs root, iproute2's `ip` and `iptables` (nft or legacy backend). Without them
//! [`NatLabBuilder::build_or_skip`] prints why and skips, except under CI (`CI` set),
//! where a test that cannot build its lab fails.

use std::ffi::OsStr;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// The start of every namespace name this module creates.
const PREFIX: &str = "fcclnat";

/// The public segment: 203.0.113.0/24 (TEST-NET-3, RFC 5737).
const PUBLIC_NET: [u8; 3] = [203, 0, 113];

/// Labs built by this process so far, for unique names.
static LABS: AtomicUsize = AtomicUsize::new(0);

/// A host of the lab: a network namespace with one interface, `eth0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// The network namespace (`ip netns exec NETNS ...`).
    pub netns: String,
    /// The host's own address: public for the public host, private behind a router.
    pub addr: Ipv4Addr,
    /// The router the host is behind; `None` for the public host.
    pub router: Option<usize>,
}

/// One NAT router of a lab.
#[derive(Clone, Debug)]
struct Router {
    netns: String,
    public_addr: Ipv4Addr,
    gateway: Ipv4Addr,
}

/// Why a lab could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabError {
    /// This machine or user cannot build labs at all (not root, no `ip netns`, no working
    /// `iptables`): tests skip, or fail under CI.
    Unavailable(String),
    /// A step of the build failed on a machine that can build labs: a real failure.
    Setup(String),
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabError::Unavailable(why) => write!(f, "NAT lab unavailable: {why}"),
            LabError::Setup(why) => write!(f, "NAT lab setup failed: {why}"),
        }
    }
}

impl std::error::Error for LabError {}

/// The shape of a lab; from [`NatLab::builder`].
#[derive(Clone, Debug)]
pub struct NatLabBuilder {
    routers: usize,
    hosts_per_router: usize,
    symmetric: bool,
    same_private_subnet: bool,
}

impl NatLabBuilder {
    /// The number of NAT routers (default 2, at most 200).
    pub fn routers(mut self, n: usize) -> Self {
        assert!((1..=200).contains(&n), "a lab has 1 to 200 routers");
        self.routers = n;
        self
    }

    /// The number of hosts behind each router (default 2, at most 200).
    pub fn hosts_per_router(mut self, n: usize) -> Self {
        assert!((1..=200).contains(&n), "a router has 1 to 200 hosts");
        self.hosts_per_router = n;
        self
    }

    /// Whether the routers are symmetric NATs: a new public port for every connection
    /// (`MASQUERADE --random-fully`), so hole punching fails. Default: no (the source port
    /// is kept when free, as an endpoint-independent NAT does).
    pub fn symmetric(mut self, yes: bool) -> Self {
        self.symmetric = yes;
        self
    }

    /// Whether every router's LAN is `10.0.0.0/24`, so that hosts behind different routers
    /// have the same private addresses (as functions often do): a peer's private address
    /// may then name a different host here. Default: no (`10.(i+1).0.0/24`).
    pub fn same_private_subnet(mut self, yes: bool) -> Self {
        self.same_private_subnet = yes;
        self
    }

    /// Builds the lab. On an error, whatever was made is deleted again.
    pub fn build(self) -> Result<NatLab, LabError> {
        reap_stale();
        let id = format!(
            "{PREFIX}-{}-{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::Relaxed)
        );
        let mut lab = NatLab {
            id,
            namespaces: Vec::new(),
            iptables: "iptables",
            symmetric: self.symmetric,
            public: Host {
                netns: String::new(),
                addr: public_addr(2),
                router: None,
            },
            routers: Vec::new(),
            hosts: Vec::new(),
        };
        // From here on `lab` owns what exists: an early return drops it, which deletes it.
        let inet = lab.add_netns("inet").map_err(LabError::Unavailable)?;
        lab.iptables = pick_iptables(&inet).map_err(LabError::Unavailable)?;
        lab.build_public(&inet).map_err(LabError::Setup)?;
        for i in 0..self.routers {
            lab.build_router(&inet, i, &self).map_err(LabError::Setup)?;
        }
        Ok(lab)
    }

    /// Builds the lab, or returns `None` after saying why when this machine cannot build
    /// one (not root, no `ip netns`, no working `iptables`) and `CI` is not set. Panics on
    /// any other failure, and under CI on every failure: there a test must not skip.
    pub fn build_or_skip(self) -> Option<NatLab> {
        match self.build() {
            Ok(lab) => Some(lab),
            Err(LabError::Unavailable(why)) if std::env::var_os("CI").is_none() => {
                eprintln!(
                    "SKIPPED: NAT lab unavailable: {why}. It needs root, iproute2 and iptables \
                     (scripts/test.sh installs them); under CI this is a failure."
                );
                None
            }
            Err(e @ LabError::Unavailable(_)) => {
                panic!("{e} (CI is set: there a test that cannot build its lab fails)")
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// A NAT lab in network namespaces (see the [module docs](self)); deleted when dropped.
#[derive(Debug)]
pub struct NatLab {
    id: String,
    /// Every namespace made so far, in order of creation.
    namespaces: Vec<String>,
    iptables: &'static str,
    symmetric: bool,
    public: Host,
    routers: Vec<Router>,
    /// Every host behind a router, router by router.
    hosts: Vec<Host>,
}

impl NatLab {
    /// A builder for a lab of 2 routers with 2 hosts each, not symmetric.
    pub fn builder() -> NatLabBuilder {
        NatLabBuilder {
            routers: 2,
            hosts_per_router: 2,
            symmetric: false,
            same_private_subnet: false,
        }
    }

    /// The prefix of this lab's namespace names (`fcclnat-PID-N`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host on the public segment (`203.0.113.2`), for a rendezvous server.
    pub fn public_host(&self) -> &Host {
        &self.public
    }

    /// Every host behind a router: router 0's first, in order, then router 1's, ...
    pub fn rank_hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The hosts behind router `i`, in order.
    pub fn hosts_behind(&self, i: usize) -> Vec<&Host> {
        self.hosts.iter().filter(|h| h.router == Some(i)).collect()
    }

    /// The number of routers.
    pub fn routers(&self) -> usize {
        self.routers.len()
    }

    /// Router `i`'s public address: what the public host sees connections from its hosts
    /// come from.
    pub fn router_public_addr(&self, i: usize) -> Ipv4Addr {
        self.routers[i].public_addr
    }

    /// Router `i`'s address on its LAN (its hosts' default gateway).
    pub fn router_gateway(&self, i: usize) -> Ipv4Addr {
        self.routers[i].gateway
    }

    /// Router `i`'s namespace (to read its counters, say).
    pub fn router_netns(&self, i: usize) -> &str {
        &self.routers[i].netns
    }

    /// Adds the iptables rule `rule` (`-I FORWARD 1 -p tcp -j DROP`, say) inside router
    /// `i`'s namespace: how a test breaks the path between its hosts and the internet.
    pub fn router_rule(&self, i: usize, rule: &[&str]) -> Result<(), String> {
        self.iptables(&self.routers[i].netns, rule)
    }

    /// Whether the routers are symmetric NATs.
    pub fn is_symmetric(&self) -> bool {
        self.symmetric
    }

    /// A command that runs `program` inside `host`'s namespace (`ip netns exec`, which
    /// execs the program itself, so the child's id is the program's); add arguments,
    /// environment and stdio as with any `Command`.
    pub fn command(&self, host: &Host, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &host.netns]).arg(program);
        cmd
    }

    /// Starts `program args...` inside `host` with `envs` added to this process's
    /// environment, stdin closed and stdout and stderr piped. Wait for it with
    /// [`wait_with_timeout`], or wrap it in a [`LabProcess`]; the lab kills it when dropped.
    pub fn spawn<A, E, K, V>(
        &self,
        host: &Host,
        program: impl AsRef<OsStr>,
        args: A,
        envs: E,
    ) -> std::io::Result<Child>
    where
        A: IntoIterator,
        A::Item: AsRef<OsStr>,
        E: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.command(host, program)
            .args(args)
            .envs(envs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }

    /// [`NatLab::spawn`] wrapped in a [`LabProcess`], which reads its output as it comes and
    /// kills it when dropped.
    pub fn start<A, E, K, V>(
        &self,
        host: &Host,
        program: impl AsRef<OsStr>,
        args: A,
        envs: E,
    ) -> std::io::Result<LabProcess>
    where
        A: IntoIterator,
        A::Item: AsRef<OsStr>,
        E: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.spawn(host, program, args, envs).map(LabProcess::new)
    }

    /// Every router's filter and nat tables with packet counters, for a failing test's
    /// message.
    pub fn diagnostics(&self) -> String {
        let mut out = String::new();
        for (i, router) in self.routers.iter().enumerate() {
            for table in ["filter", "nat"] {
                let listing = Command::new("ip")
                    .args(["netns", "exec", &router.netns, self.iptables, "-w", "-t"])
                    .args([table, "-L", "-v", "-n"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_else(|e| format!("({e})\n"));
                out.push_str(&format!(
                    "--- router {i} ({}) {table}\n{listing}",
                    router.netns
                ));
            }
        }
        out
    }

    /// Makes the namespace `ID-suffix` with its loopback up, and remembers it for deletion.
    fn add_netns(&mut self, suffix: &str) -> Result<String, String> {
        let name = format!("{}-{suffix}", self.id);
        ip(&["netns", "add", &name])?;
        self.namespaces.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        Ok(name)
    }

    /// The public segment's bridge `sw` in `inet`, and the public host on it.
    fn build_public(&mut self, inet: &str) -> Result<(), String> {
        ip(&["-n", inet, "link", "add", "name", "sw", "type", "bridge"])?;
        ip(&["-n", inet, "link", "set", "sw", "up"])?;
        let netns = self.add_netns("pub")?;
        let addr = self.public.addr;
        plug(inet, "pub", "sw", &netns, "eth0", addr)?;
        self.public.netns = netns;
        Ok(())
    }

    /// Router `i`: public leg `wan` on the public segment, bridge `lan` with its hosts,
    /// forwarding, masquerading, and dropping unsolicited inbound connections.
    fn build_router(&mut self, inet: &str, i: usize, shape: &NatLabBuilder) -> Result<(), String> {
        let netns = self.add_netns(&format!("r{i}"))?;
        let public_addr = public_addr(10 + i as u8);
        plug(inet, &format!("r{i}"), "sw", &netns, "wan", public_addr)?;
        let lan = if shape.same_private_subnet {
            0
        } else {
            i as u8 + 1
        };
        let gateway = Ipv4Addr::new(10, lan, 0, 1);
        ip(&["-n", &netns, "link", "add", "name", "lan", "type", "bridge"])?;
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{gateway}/24"),
            "dev",
            "lan",
        ])?;
        ip(&["-n", &netns, "link", "set", "lan", "up"])?;
        run(Command::new("ip")
            .args(["netns", "exec", &netns, "sh", "-c"])
            .arg("echo 1 > /proc/sys/net/ipv4/ip_forward"))?;
        let mut masquerade = vec![
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            "wan",
            "-j",
            "MASQUERADE",
        ];
        if self.symmetric {
            masquerade.push("--random-fully");
        }
        let drop_new = [
            "-i",
            "wan",
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-j",
            "DROP",
        ];
        self.iptables(&netns, &masquerade)?;
        self.iptables(&netns, &[&["-A", "INPUT"][..], &drop_new].concat())?;
        self.iptables(&netns, &[&["-A", "FORWARD"][..], &drop_new].concat())?;
        self.routers.push(Router {
            netns: netns.clone(),
            public_addr,
            gateway,
        });
        for j in 0..shape.hosts_per_router {
            let host_ns = self.add_netns(&format!("r{i}h{j}"))?;
            let addr = Ipv4Addr::new(10, lan, 0, 10 + j as u8);
            plug(&netns, &format!("h{j}"), "lan", &host_ns, "eth0", addr)?;
            ip(&[
                "-n",
                &host_ns,
                "route",
                "add",
                "default",
                "via",
                &gateway.to_string(),
            ])?;
            self.hosts.push(Host {
                netns: host_ns,
                addr,
                router: Some(i),
            });
        }
        Ok(())
    }

    fn iptables(&self, netns: &str, rule: &[&str]) -> Result<(), String> {
        run(Command::new("ip")
            .args(["netns", "exec", netns, self.iptables, "-w"])
            .args(rule))
    }
}

impl Drop for NatLab {
    fn drop(&mut self) {
        // Hosts first, the internet last; deleting a namespace deletes its interfaces.
        for netns in self.namespaces.iter().rev() {
            delete_netns(netns);
        }
    }
}

/// A process inside a lab host, its stdout and stderr read line by line as they come; it
/// is killed when dropped.
#[derive(Debug)]
pub struct LabProcess {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Stdout lines already taken by [`LabProcess::wait_for_line`].
    seen: Vec<String>,
}

/// How a [`LabProcess`] ended.
#[derive(Debug)]
pub struct Finished {
    /// The exit status; `None` if it was killed for running past its timeout.
    pub status: Option<ExitStatus>,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Finished {
    /// Whether it exited by itself with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Whether it was killed for running past its timeout.
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }
}

impl LabProcess {
    /// Takes over `child` (spawned with piped stdout and stderr, as [`NatLab::spawn`] does).
    pub fn new(mut child: Child) -> LabProcess {
        LabProcess {
            stdout: read_lines(child.stdout.take()),
            stderr: read_lines(child.stderr.take()),
            child,
            seen: Vec::new(),
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for a stdout line for which `wanted` holds, and returns it;
    /// `None` if the process ends or the time runs out first. The lines read on the way
    /// stay in [`Finished::stdout`].
    pub fn wait_for_line(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits up to `timeout` for the process to exit, killing it if it does not, and
    /// returns its status and output.
    pub fn finish(mut self, timeout: Duration) -> Finished {
        let deadline = Instant::now() + timeout;
        let mut status = None;
        while status.is_none() && Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(s)) => status = Some(s),
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(_) => break,
            }
        }
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The pipes close when the process is gone, unless something it started holds
        // them: then give up on the rest after a moment.
        let drain_until = Instant::now() + Duration::from_secs(1);
        let mut stdout = std::mem::take(&mut self.seen);
        stdout.extend(drain(&self.stdout, drain_until));
        let stderr = drain(&self.stderr, drain_until);
        Finished {
            status,
            stdout: join_lines(&stdout),
            stderr: join_lines(&stderr),
        }
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits up to `timeout` for `child` (spawned with piped stdout and stderr), killing it if
/// it does not exit, and returns its status and output.
pub fn wait_with_timeout(child: Child, timeout: Duration) -> Finished {
    LabProcess::new(child).finish(timeout)
}

fn public_addr(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(PUBLIC_NET[0], PUBLIC_NET[1], PUBLIC_NET[2], host)
}

/// A veth pair from `parent_ns` (as `parent_if`, a port of bridge `bridge` there) into
/// `child_ns` (as `child_if`, with `addr`/24), both ends up.
fn plug(
    parent_ns: &str,
    parent_if: &str,
    bridge: &str,
    child_ns: &str,
    child_if: &str,
    addr: Ipv4Addr,
) -> Result<(), String> {
    ip(&[
        "-n", parent_ns, "link", "add", "name", parent_if, "type", "veth", "peer", "name",
        child_if, "netns", child_ns,
    ])?;
    ip(&[
        "-n", parent_ns, "link", "set", parent_if, "master", bridge, "up",
    ])?;
    ip(&[
        "-n",
        child_ns,
        "addr",
        "add",
        &format!("{addr}/24"),
        "dev",
        child_if,
    ])?;
    ip(&["-n", child_ns, "link", "set", child_if, "up"])
}

/// The first of `iptables` and `iptables-legacy` that works inside `netns`.
fn pick_iptables(netns: &str) -> Result<&'static str, String> {
    let mut errors = Vec::new();
    for candidate in ["iptables", "iptables-legacy"] {
        match run(
            Command::new("ip").args(["netns", "exec", netns, candidate, "-w", "-t", "nat", "-S"])
        ) {
            Ok(()) => return Ok(candidate),
            Err(e) => errors.push(e),
        }
    }
    Err(format!(
        "no working iptables in a namespace: {}",
        errors.join("; ")
    ))
}

fn ip(args: &[&str]) -> Result<(), String> {
    run(Command::new("ip").args(args))
}

/// Runs `cmd` to completion; an error names the command and has its stderr.
fn run(cmd: &mut Command) -> Result<(), String> {
    let line = format!("{cmd:?}").replace('"', "");
    match cmd.stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("`{line}` could not start: {e}")),
    }
}

/// Kills whatever still runs in `netns` (only processes the lab's tests started live
/// there), then deletes it.
fn delete_netns(netns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", netns]).output() {
        let pids = String::from_utf8_lossy(&out.stdout);
        let pids: Vec<&str> = pids.split_whitespace().collect();
        if !pids.is_empty() {
            // The shell's own kill: a `kill` program may not be installed.
            let _ = Command::new("sh")
                .args(["-c", "kill -9 \"$@\"", "sh"])
                .args(&pids)
                .output();
        }
    }
    if let Err(e) = ip(&["netns", "del", netns]) {
        eprintln!("NAT lab: could not delete namespace {netns}: {e}");
    }
}

/// Deletes the namespaces of labs whose process is gone (killed before its labs could be
/// dropped).
fn reap_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let me = std::process::id();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX).and_then(|r| r.strip_prefix('-')) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != me && !Path::new(&format!("/proc/{pid}")).exists() {
            delete_netns(name);
        }
    }
}

/// A thread that sends each line of `pipe` over the returned channel until it closes.
fn read_lines<R: Read + Send + 'static>(pipe: Option<R>) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(pipe) = pipe {
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// The lines still to come on `rx`, until it closes or `until` passes.
fn drain(rx: &Receiver<String>, until: Instant) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(line) => lines.push(line),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return lines,
        }
    }
}

fn join_lines(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}
