//! memcached's own set/get throughput, measured with a raw loop of the same client the
//! memcached transport uses: the yardstick the store transport's collectives are compared
//! with (`benches/compare/compare_store.sh`).
//!
//! ```text
//! cargo run --release -p fccl-transports --example store_throughput -- \
//!     --server 127.0.0.1:11211 --clients 4 --value 1048576 --seconds 3
//! ```
//!
//! Each of `clients` concurrent clients (one connection each) stores a `value`-byte item
//! under a key of its own and reads it back, again and again, for `seconds`. Prints one
//! JSON object: the bytes stored plus the bytes read per second (`set_get_mb_per_s`, in
//! 10^6 bytes), and the median time of one set and of one get.

use std::time::{Duration, Instant};

use memcache::exp::{AsyncMetaClient, Get, Set, Ttl};

/// The command line: `--server HOST:PORT --clients N --value BYTES --seconds S`.
struct Args {
    server: String,
    clients: usize,
    value: usize,
    seconds: f64,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        server: "127.0.0.1:11211".into(),
        clients: 4,
        value: 1 << 20,
        seconds: 3.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--server" => args.server = value,
            "--clients" => args.clients = value.parse().map_err(|e| bad(&e))?,
            "--value" => args.value = value.parse().map_err(|e| bad(&e))?,
            "--seconds" => args.seconds = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.clients == 0 || args.value == 0 || args.seconds <= 0.0 {
        return Err("--clients, --value and --seconds must be positive".into());
    }
    Ok(args)
}

/// One client's loop: set, get (checking the length), until `until`; returns the bytes
/// moved and the times of its sets and gets.
async fn client(
    server: String,
    id: usize,
    value: usize,
    until: Instant,
) -> Result<(u64, Vec<Duration>, Vec<Duration>), String> {
    let conn = AsyncMetaClient::connect(server.as_str())
        .await
        .map_err(|e| format!("cannot connect to {server}: {e}"))?;
    let key = format!("fccl:throughput:{}:{id}", std::process::id());
    let data = vec![id as u8; value];
    let (mut moved, mut sets, mut gets) = (0u64, Vec::new(), Vec::new());
    while Instant::now() < until {
        let start = Instant::now();
        let set = conn
            .run(Set::new(&key, &data).ttl(Ttl::secs(60)))
            .await
            .map_err(|e| format!("set: {e}"))?;
        if !set.applied() {
            return Err(format!(
                "the server refused a {value}-byte item: {:?}",
                set.status
            ));
        }
        sets.push(start.elapsed());
        let start = Instant::now();
        let got = conn
            .run(Get::new(&key))
            .await
            .map_err(|e| format!("get: {e}"))?;
        gets.push(start.elapsed());
        if got.value.as_ref().map(Vec::len) != Some(value) {
            return Err("a get did not return the item just stored".into());
        }
        moved += 2 * value as u64;
    }
    let _ = conn.run(memcache::exp::Delete::new(&key)).await;
    Ok((moved, sets, gets))
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("store_throughput: {e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(args.seconds);
    let results = runtime
        .block_on(futures_util::future::join_all((0..args.clients).map(
            |id| runtime.spawn(client(args.server.clone(), id, args.value, until)),
        )));
    let elapsed = started.elapsed().as_secs_f64();
    let (mut moved, mut sets, mut gets) = (0u64, Vec::new(), Vec::new());
    for r in results {
        match r.expect("a client task") {
            Ok((m, s, g)) => {
                moved += m;
                sets.extend(s);
                gets.extend(g);
            }
            Err(e) => {
                eprintln!("store_throughput: {e}");
                std::process::exit(1);
            }
        }
    }
    println!(
        "{{\"server\":\"{}\",\"clients\":{},\"value_bytes\":{},\"seconds\":{elapsed:.3},\
         \"set_get_mb_per_s\":{:.1},\"set_us_median\":{:.1},\"get_us_median\":{:.1}}}",
        args.server,
        args.clients,
        args.value,
        moved as f64 / elapsed / 1e6,
        median(sets),
        median(gets)
    );
}
