//! Tests through real Linux NAT: labs of network namespaces with iptables MASQUERADE
//! routers that drop unsolicited inbound connections (see `fccl_tests::netns`). They need
//! root and skip without it, except under CI.
//!
//! Besides punching and relaying, two tests break the path between two ranks in the middle
//! of their allreduces with a rule in the routers: dropping every packet (a stall, noticed
//! by the connection's `stall=` progress timeout rather than the op timeout) and answering
//! with TCP resets (noticed at once).
//!
//! The socket roles inside the namespaces are small Python programs ([`SOCKETS`]): python3
//! is on every machine the project runs on, and a plain socket is all they need.

use std::net::Ipv4Addr;
use std::time::Duration;

use fccl_tests::netns::{Host, LabProcess, NatLab};

/// `listen PORTS COUNT TIMEOUT`: listens on each port of the comma-separated PORTS, prints
/// `ready`, then `peer IP PORT LOCALPORT` for each of up to COUNT connections, or `timeout`
/// when none comes for TIMEOUT seconds.
/// `connect HOST PORTS TIMEOUT [LOCALPORT]`: connects to each port in turn (from LOCALPORT
/// if given, keeping the earlier connections open) and prints `ok LOCALIP LOCALPORT` or
/// `err timeout|refused|unreachable|other ...` for each.
const SOCKETS: &str = r#"
import errno, selectors, socket, sys
role = sys.argv[1]
if role == "listen":
    ports, count, timeout = sys.argv[2].split(","), int(sys.argv[3]), float(sys.argv[4])
    sel = selectors.DefaultSelector()
    for port in ports:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(port)))
        s.listen(16)
        sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    for _ in range(count):
        events = sel.select(timeout)
        if not events:
            print("timeout", flush=True)
            break
        c, (ip, port) = events[0][0].fileobj.accept()
        print("peer", ip, port, c.getsockname()[1], flush=True)
        c.close()
else:
    host, ports, timeout = sys.argv[2], sys.argv[3].split(","), float(sys.argv[4])
    keep = []
    for port in ports:
        s = socket.socket()
        if len(sys.argv) > 5:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(("0.0.0.0", int(sys.argv[5])))
        s.settimeout(timeout)
        try:
            s.connect((host, int(port)))
            print("ok", *s.getsockname(), flush=True)
            keep.append(s)
        except socket.timeout:
            print("err timeout", flush=True)
        except ConnectionRefusedError:
            print("err refused", flush=True)
        except OSError as e:
            kind = "unreachable" if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH) else "other"
            print("err", kind, e, flush=True)
"#;

/// Long enough for any step here on a loaded machine; a hung child is killed after it.
const CHILD_TIMEOUT: Duration = Duration::from_secs(20);

/// Starts a listener inside `host` on `ports` and waits until it listens.
fn listen(lab: &NatLab, host: &Host, ports: &str, count: usize, timeout_s: f64) -> LabProcess {
    let (count, timeout) = (count.to_string(), timeout_s.to_string());
    let mut child = lab
        .start(
            host,
            "python3",
            ["-c", SOCKETS, "listen", ports, &count, &timeout],
            no_env(),
        )
        .expect("python3 starts inside the lab");
    if child
        .wait_for_line(CHILD_TIMEOUT, |l| l == "ready")
        .is_none()
    {
        let out = child.finish(Duration::ZERO);
        panic!("listener in {} never got ready: {out:?}", host.netns);
    }
    child
}

/// Connects from `host` to `to` on each of `ports` and returns one result line per port.
fn connect(
    lab: &NatLab,
    host: &Host,
    to: Ipv4Addr,
    ports: &str,
    timeout_s: f64,
    local_port: Option<u16>,
) -> Vec<String> {
    let (to, timeout) = (to.to_string(), timeout_s.to_string());
    let mut args = vec!["-c", SOCKETS, "connect", &to, ports, &timeout];
    let local = local_port.map(|p| p.to_string());
    args.extend(local.as_deref());
    let out = lab
        .start(host, "python3", args, no_env())
        .expect("python3 starts inside the lab")
        .finish(CHILD_TIMEOUT);
    assert!(out.success(), "connect in {} failed: {out:?}", host.netns);
    out.stdout.lines().map(str::to_owned).collect()
}

/// The `peer IP PORT LOCALPORT` lines a listener printed, as (IP, PORT).
fn peers(listener: LabProcess) -> Vec<(Ipv4Addr, u16)> {
    let out = listener.finish(CHILD_TIMEOUT);
    assert!(out.success(), "listener failed: {out:?}");
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("peer "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].parse().expect("an address"),
                f[1].parse().expect("a port"),
            )
        })
        .collect()
}

fn no_env() -> [(&'static str, &'static str); 0] {
    []
}

/// The lab's NAT is real: a host behind one router can reach the public host, which sees
/// it as its router's public address, and its LAN neighbour directly; but neither a
/// listener behind another router (through that router's public address: the router drops
/// the unsolicited SYN, so the connect times out rather than being refused) nor that
/// listener's private address (no route) can be reached.
#[test]
fn nat_is_real() {
    let Some(lab) = NatLab::builder()
        .routers(2)
        .hosts_per_router(2)
        .build_or_skip()
    else {
        return;
    };
    let (a, neighbour) = (lab.hosts_behind(0)[0], lab.hosts_behind(0)[1]);
    let b = lab.hosts_behind(1)[0];
    let public = lab.public_host();
    assert_ne!(a.addr, b.addr);

    // Behind router 1, a listener that must see nothing.
    let hidden = listen(&lab, b, "7001", 1, 60.0);
    let through_nat = connect(&lab, a, lab.router_public_addr(1), "7001", 2.0, None);
    assert_eq!(
        through_nat,
        ["err timeout"],
        "router 1 let an unsolicited connection in or refused it instead of dropping it\n{}",
        lab.diagnostics()
    );
    let private = connect(&lab, a, b.addr, "7001", 2.0, None);
    assert!(
        private[0].starts_with("err "),
        "a private address behind another router answered: {private:?}"
    );

    // The public host: reachable, and it sees router 0's public address.
    let server = listen(&lab, public, "7000", 1, 10.0);
    let out = connect(&lab, a, public.addr, "7000", 5.0, None);
    assert!(
        out[0].starts_with("ok "),
        "no route to the public host: {out:?}"
    );
    let seen = peers(server);
    assert_eq!(
        seen.iter().map(|p| p.0).collect::<Vec<_>>(),
        [lab.router_public_addr(0)],
        "the public host did not see router 0's public address (MASQUERADE)"
    );

    // The LAN neighbour: reachable on its private address, without NAT in between.
    let lan = listen(&lab, neighbour, "7002", 1, 10.0);
    let out = connect(&lab, a, neighbour.addr, "7002", 5.0, None);
    assert!(
        out[0].starts_with("ok "),
        "the LAN neighbour is unreachable: {out:?}"
    );
    assert_eq!(peers(lan).iter().map(|p| p.0).collect::<Vec<_>>(), [a.addr]);

    // Killed now: a connection it had accepted would have been printed long ago.
    let hidden = hidden.finish(Duration::ZERO);
    assert!(
        !hidden.stdout.contains("peer"),
        "the listener behind router 1 was reached: {hidden:?}"
    );
}

/// An endpoint-independent router keeps a socket's public port for every destination (what
/// hole punching needs); a symmetric one (`--random-fully`) gives each connection its own.
#[test]
fn nat_mapping_is_kept_unless_symmetric() {
    for symmetric in [false, true] {
        let Some(lab) = NatLab::builder()
            .routers(1)
            .hosts_per_router(1)
            .symmetric(symmetric)
            .build_or_skip()
        else {
            return;
        };
        let host = &lab.rank_hosts()[0];
        let server = listen(&lab, lab.public_host(), "7000,7001,7002", 3, 10.0);
        let out = connect(
            &lab,
            host,
            lab.public_host().addr,
            "7000,7001,7002",
            5.0,
            Some(40000),
        );
        assert!(out.iter().all(|l| l.starts_with("ok ")), "{out:?}");
        let seen = peers(server);
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(
            seen.iter().all(|p| p.0 == lab.router_public_addr(0)),
            "{seen:?}"
        );
        let ports: Vec<u16> = seen.iter().map(|p| p.1).collect();
        if symmetric {
            assert!(
                ports.iter().any(|&p| p != ports[0]),
                "a symmetric NAT kept one public port for three destinations: {ports:?}"
            );
        } else {
            assert_eq!(ports, [40000; 3], "the NAT did not keep the source port");
        }
    }
}

/// Tells a child run of this test binary which role to play inside the lab.
const ROLE: &str = "FCCL_TEST_NAT_ROLE";

/// The rendezvous server's port on the public host.
const RENDEZVOUS_PORT: u16 = 7500;

/// The roles, run by the test binary itself inside a lab host: `rendezvous` serves on
/// `0.0.0.0:RENDEZVOUS_PORT` for a minute; `rank` joins the job in `FCCL_JOB` as rank
/// `FCCL_RANK`, checks an allreduce and an alltoall against their closed forms, and prints
/// `peer R ADDR` for every other rank (the address its connection reaches that rank at).
#[test]
fn role() {
    // Start on a line of our own: libtest has printed `test role ... ` without a newline.
    println!();
    match std::env::var(ROLE).as_deref() {
        Ok("rendezvous") => rendezvous_role(),
        Ok("rank") => rank_role(),
        Ok("relayed rank") => relayed_rank_role(),
        Ok("looping rank") => looping_rank_role(),
        _ => {}
    }
}

fn rendezvous_role() {
    use fccl_transports::tcp::rendezvous::{RendezvousServer, ServerConfig};
    let addr = format!("0.0.0.0:{RENDEZVOUS_PORT}").parse().unwrap();
    let _server = RendezvousServer::start_background(addr, ServerConfig::default()).unwrap();
    println!("listening");
    std::thread::sleep(Duration::from_secs(60));
}

fn rank_role() {
    use std::sync::Arc;

    use fccl::{Communicator, ReduceOp, Transport};
    use fccl_transports::tcp::{TcpSpec, TcpTransport};

    let (job, rank) = fccl::job_from_env()
        .unwrap()
        .expect("FCCL_JOB and FCCL_RANK");
    let spec = TcpSpec::parse(&job.transport).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let transport = match TcpTransport::connect(&job, rank, &spec).await {
            Ok(t) => Arc::new(t),
            Err(e) => {
                println!("error {e}");
                std::process::exit(3);
            }
        };
        let mut comm = Communicator::new(Arc::clone(&transport) as Arc<dyn Transport>);
        let n = comm.size();
        let mut v: Vec<u64> = (0..1000).map(|i| (rank * 1000 + i) as u64).collect();
        comm.all_reduce(&mut v, ReduceOp::Sum).await.unwrap();
        let want = |i: usize| (0..n).map(|r| (r * 1000 + i) as u64).sum::<u64>();
        assert!(
            v.iter().enumerate().all(|(i, &x)| x == want(i)),
            "allreduce"
        );
        let send: Vec<u32> = (0..n).map(|to| (rank * 100 + to) as u32).collect();
        let mut got = vec![0u32; n];
        comm.all_to_all(&send, &mut got).await.unwrap();
        let expected: Vec<u32> = (0..n).map(|from| (from * 100 + rank) as u32).collect();
        assert_eq!(got, expected, "alltoall");
        for peer in (0..n).filter(|&p| p != rank) {
            let addr = transport
                .peer_addr(peer)
                .expect("a connection to every rank");
            println!("peer {peer} {}", addr.ip());
        }
        comm.close().await.unwrap();
    });
    println!("done");
}

/// Runs one job of every rank host of `lab` through a rendezvous server on the public
/// host; returns each rank's output.
fn run_job(lab: &NatLab, setup: Duration) -> Vec<fccl_tests::netns::Finished> {
    run_job_with(lab, setup, "rank", "")
}

/// [`run_job`] with the ranks playing `role` and `options` appended to the tcp spec.
fn run_job_with(
    lab: &NatLab,
    setup: Duration,
    role: &str,
    options: &str,
) -> Vec<fccl_tests::netns::Finished> {
    let (_server, ranks) = start_job(lab, setup, role, options);
    let limit = setup + Duration::from_secs(30);
    ranks.into_iter().map(|p| p.finish(limit)).collect()
}

/// Starts a rendezvous server on the public host and one rank process on every rank host
/// of `lab`, playing `role`, with `options` appended to the tcp spec; returns them running.
fn start_job(
    lab: &NatLab,
    setup: Duration,
    role: &str,
    options: &str,
) -> (LabProcess, Vec<LabProcess>) {
    let me = std::env::current_exe().unwrap();
    let args = ["--exact", "role", "--nocapture", "--test-threads", "1"];
    let mut server = lab
        .start(lab.public_host(), &me, args, [(ROLE, "rendezvous")])
        .unwrap();
    assert!(
        server
            .wait_for_line(CHILD_TIMEOUT, |l| l == "listening")
            .is_some(),
        "the rendezvous server did not start: {:?}",
        server.finish(Duration::ZERO)
    );
    let hosts = lab.rank_hosts();
    let spec = format!(
        "tcp://{}:{RENDEZVOUS_PORT}?mesh=full{options}",
        lab.public_host().addr
    );
    let mut job = fccl::JobSpec::new(hosts.len(), spec).unwrap();
    job.setup_timeout = setup;
    job.timeout = LOOP_OP_TIMEOUT;
    let job = job.to_string();
    let ranks = hosts
        .iter()
        .enumerate()
        .map(|(r, host)| {
            let env = [
                (ROLE, role.to_string()),
                ("FCCL_JOB", job.clone()),
                ("FCCL_RANK", r.to_string()),
            ];
            lab.start(host, &me, args, env).unwrap()
        })
        .collect();
    (server, ranks)
}

/// Ranks behind two NATs that drop unsolicited connections punch through: every pair
/// connects (same-NAT pairs on their private addresses, the others on their routers'
/// public addresses), and allreduce and alltoall give exact results.
#[test]
fn ranks_behind_nats_punch_through() {
    let Some(lab) = NatLab::builder()
        .routers(2)
        .hosts_per_router(2)
        .build_or_skip()
    else {
        return;
    };
    let hosts = lab.rank_hosts().to_vec();
    let outputs = run_job(&lab, Duration::from_secs(20));
    for (r, out) in outputs.iter().enumerate() {
        assert!(
            out.success() && out.stdout.contains("done"),
            "rank {r} failed: {out:?}\n{}",
            lab.diagnostics()
        );
        for line in out.stdout.lines().filter_map(|l| l.strip_prefix("peer ")) {
            let (peer, ip) = line.split_once(' ').unwrap();
            let peer: usize = peer.parse().unwrap();
            let ip: Ipv4Addr = ip.parse().unwrap();
            let (mine, theirs) = (hosts[r].router.unwrap(), hosts[peer].router.unwrap());
            let want = if mine == theirs {
                hosts[peer].addr
            } else {
                lab.router_public_addr(theirs)
            };
            assert_eq!(ip, want, "rank {r} reaches rank {peer} at {ip}");
        }
        assert_eq!(
            out.stdout
                .lines()
                .filter(|l| l.starts_with("peer "))
                .count(),
            hosts.len() - 1,
            "rank {r}: {out:?}"
        );
    }
}

/// Behind symmetric NATs (a new public port for every connection) punching cannot work:
/// each rank fails within its set-up deadline with an error that names the pair.
#[test]
fn symmetric_nats_fail_within_the_deadline_naming_the_pair() {
    let Some(lab) = NatLab::builder()
        .routers(2)
        .hosts_per_router(1)
        .symmetric(true)
        .build_or_skip()
    else {
        return;
    };
    let started = std::time::Instant::now();
    let setup = Duration::from_secs(6);
    let outputs = run_job(&lab, setup);
    assert!(
        started.elapsed() < setup + Duration::from_secs(15),
        "the ranks took {:?} to give up",
        started.elapsed()
    );
    for (r, out) in outputs.iter().enumerate() {
        assert!(!out.timed_out(), "rank {r} hung: {out:?}");
        let error = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("error "))
            .unwrap_or_else(|| panic!("rank {r} did not fail: {out:?}"));
        assert!(
            error.contains("ranks 0 and 1 could not connect") || error.contains("ranks 1 and 0"),
            "rank {r}: {error}"
        );
        assert!(error.contains("fallback"), "rank {r}: {error}");
        println!("rank {r}: {error}");
    }
}

/// A rank that joins through `fccl::init_from_env` (so a `fallback=` in the spec is built)
/// and checks an allreduce against its closed form.
fn relayed_rank_role() {
    use fccl::ReduceOp;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut comm = match fccl::init_from_env().await {
            Ok(c) => c,
            Err(e) => {
                println!("error {e}");
                std::process::exit(3);
            }
        };
        let (rank, n) = (comm.rank(), comm.size());
        let mut v: Vec<u64> = (0..1000).map(|i| (rank * 1000 + i) as u64).collect();
        comm.all_reduce(&mut v, ReduceOp::Sum).await.unwrap();
        let want = |i: usize| (0..n).map(|r| (r * 1000 + i) as u64).sum::<u64>();
        assert!(
            v.iter().enumerate().all(|(i, &x)| x == want(i)),
            "allreduce"
        );
        for peer in comm.transport().relayed_peers() {
            println!("relayed {peer}");
        }
        comm.close().await.unwrap();
    });
    println!("done");
}

/// Behind symmetric NATs, with `?fallback=redis://` (a Redis server on the public host),
/// the pairs that cannot punch through are relayed through Redis and the allreduce
/// completes exactly.
#[test]
fn symmetric_nats_relay_through_the_redis_fallback() {
    let Some(lab) = NatLab::builder()
        .routers(2)
        .hosts_per_router(1)
        .symmetric(true)
        .build_or_skip()
    else {
        return;
    };
    let redis_port = "7600";
    let mut redis = lab
        .start(
            lab.public_host(),
            "redis-server",
            [
                "--port",
                redis_port,
                "--bind",
                "0.0.0.0",
                "--protected-mode",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            no_env(),
        )
        .expect("redis-server starts on the public host (scripts/test.sh installs it)");
    assert!(
        redis
            .wait_for_line(CHILD_TIMEOUT, |l| l.contains("Ready to accept connections"))
            .is_some(),
        "redis-server did not start"
    );
    let fallback = format!("&fallback=redis://{}:{redis_port}", lab.public_host().addr);
    let outputs = run_job_with(&lab, Duration::from_secs(6), "relayed rank", &fallback);
    for (r, out) in outputs.iter().enumerate() {
        assert!(
            out.success() && out.stdout.contains("done"),
            "rank {r} failed: {out:?}"
        );
        // The one pair, behind two symmetric NATs, is relayed, and each side says so.
        let relayed: Vec<&str> = out
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("relayed "))
            .collect();
        assert_eq!(relayed, [(1 - r).to_string()], "rank {r}: {out:?}");
    }
}

/// The op timeout of the jobs these tests start: long, so that only a broken connection
/// ends a looping rank's allreduce early.
const LOOP_OP_TIMEOUT: Duration = Duration::from_secs(60);

/// The `stall=` of the looping jobs, and how late after it a rank may notice a stall.
const STALL: Duration = Duration::from_secs(2);
const STALL_SLACK: Duration = Duration::from_secs(3);

/// Now, in microseconds since the Unix epoch (every lab process runs on this machine).
fn unix_micros() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970");
    u64::try_from(since.as_micros()).expect("micros fit in u64")
}

/// `looping rank`: joins, says `ready` after its first allreduce, then loops allreduces of
/// 1 MiB until one fails and says `failed KIND MICROS MESSAGE` (for at most a minute).
fn looping_rank_role() {
    use fccl::ReduceOp;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut comm = fccl::init_from_env().await.expect("the rank joins");
        let mut data = vec![comm.rank() as f32; 256 * 1024];
        let started = std::time::Instant::now();
        let mut ready = false;
        while started.elapsed() < Duration::from_secs(60) {
            match comm.all_reduce(&mut data, ReduceOp::Max).await {
                Ok(()) if !ready => {
                    println!("ready");
                    ready = true;
                }
                Ok(()) => {}
                Err(e) => {
                    println!("failed {:?} {} {e}", e.kind(), unix_micros());
                    return;
                }
            }
        }
        println!("no failure in a minute");
    });
}

/// While the ranks of a 2-router lab loop allreduces (`stall=2s`), both routers add `rule`
/// to their FORWARD chain, cutting the path between the ranks. Returns, for each rank, the
/// kind of its error, how long after the cut it came, and its message; `None` without a lab.
fn cut_path(rule: &[&str]) -> Option<Vec<(String, Duration, String)>> {
    let lab = NatLab::builder()
        .routers(2)
        .hosts_per_router(1)
        .build_or_skip()?;
    let options = format!("&stall={}s", STALL.as_secs());
    let (_server, mut ranks) = start_job(&lab, Duration::from_secs(20), "looping rank", &options);
    for (r, rank) in ranks.iter_mut().enumerate() {
        let ready = rank.wait_for_line(CHILD_TIMEOUT, |l| l == "ready");
        assert!(
            ready.is_some(),
            "rank {r} did not start looping\n{}",
            lab.diagnostics()
        );
    }
    let cut = unix_micros();
    for i in 0..lab.routers() {
        lab.router_rule(i, rule).expect("the rule goes in");
    }
    let failures = ranks
        .iter_mut()
        .enumerate()
        .map(|(r, rank)| {
            let line = rank
                .wait_for_line(Duration::from_secs(30), |l| l.starts_with("failed "))
                .unwrap_or_else(|| panic!("rank {r} did not fail within 30 s of the cut"));
            let mut words = line.splitn(4, ' ').skip(1);
            let kind = words.next().unwrap_or_default().to_string();
            let micros: u64 = words.next().and_then(|m| m.parse().ok()).expect("a time");
            let message = words.next().unwrap_or_default().to_string();
            let after = Duration::from_micros(micros.saturating_sub(cut));
            println!("rank {r}: {kind} {after:?} after the cut: {message}");
            (kind, after, message)
        })
        .collect();
    Some(failures)
}

/// A path that silently drops every packet (FMI's TCP stalls on Lambda) is noticed by the
/// connection's progress timeout (`stall=2s`: unacknowledged data, keepalive), not by the
/// 60 s op timeout: both ranks fail within the stall time plus a few seconds.
#[test]
fn a_stalled_path_fails_both_ranks_after_the_stall_time_not_the_op_timeout() {
    let Some(failures) = cut_path(&["-I", "FORWARD", "1", "-p", "tcp", "-j", "DROP"]) else {
        return;
    };
    for (r, (kind, after, message)) in failures.iter().enumerate() {
        assert!(
            *after < STALL + STALL_SLACK,
            "rank {r} noticed the stall {after:?} after it began: {kind} {message}"
        );
        assert!(
            matches!(kind.as_str(), "Remote" | "Timeout"),
            "rank {r}: {kind} {message}"
        );
    }
}

/// A path that resets the connection (TCP RST from the routers) fails both ranks at once,
/// with `Remote` naming the peer, long before the 60 s op timeout.
#[test]
fn a_reset_connection_fails_both_ranks_at_once() {
    let rule = [
        "-I",
        "FORWARD",
        "1",
        "-p",
        "tcp",
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ];
    let Some(failures) = cut_path(&rule) else {
        return;
    };
    for (r, (kind, after, message)) in failures.iter().enumerate() {
        assert_eq!(kind, "Remote", "rank {r}: {message}");
        assert!(
            message.contains(&format!("rank {}", 1 - r)),
            "rank {r}: the error names no peer: {message}"
        );
        assert!(
            *after < STALL + STALL_SLACK,
            "rank {r} noticed the reset {after:?} after it began: {message}"
        );
    }
    let first = failures.iter().map(|f| f.1).min().expect("two ranks");
    assert!(
        first < Duration::from_secs(1),
        "the first rank took {first:?}"
    );
}
