//! The job's servers: one `memcache` meta-protocol client per server, and the routing of
//! keys to servers done here (not by the client), so that a key can also be placed on a
//! chosen server (the sentinels) and every error names its server.
//!
//! A key goes to server `fnv1a(key) % servers`, the same in every process. Batches are
//! grouped per server and the groups exchanged concurrently, one pipelined round trip each.

use std::sync::Arc;
use std::time::Duration;

use fccl_collectives::{Error, ErrorKind, Result};
use futures_util::future::join_all;
use memcache::exp::{
    Arithmetic, AsyncMetaClient, Delete, Get, GetStatus, Meta, MutationStatus, Set, Ttl,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use super::lanes::Lanes;
use super::spec::MemcachedSpec;
use crate::usage::Counters;

/// An item that was found: its value and CAS token.
pub(crate) struct Item {
    pub(crate) value: Vec<u8>,
    pub(crate) cas: u64,
}

/// The servers of one job.
pub(crate) struct Store {
    clients: Vec<AsyncMetaClient>,
    /// The connections that write and read the parts of messages and objects.
    pub(crate) lanes: Lanes,
    names: Vec<String>,
    /// The expiry of every item this job stores, in seconds.
    ttl: u32,
    /// Every command sent to the servers (the lanes' too), and the payload bytes stored
    /// for peers.
    pub(crate) usage: Arc<Counters>,
}

/// A transport error naming `server`.
pub(crate) fn server_error(server: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Transport,
        format!("memcached server {server}: {what}: {e}"),
    )
}

/// The server of `key` among `n`: FNV-1a, stable across processes and versions.
fn route(key: &str, n: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % n as u64) as usize
}

impl Store {
    /// Connects to every server of `spec` by `deadline`, checks that each is memcached 1.6
    /// or later, and returns the store with the smallest `item_size_max` of the servers.
    pub(crate) async fn connect(
        spec: &MemcachedSpec,
        deadline: Instant,
        io_timeout: Duration,
        ttl: u32,
    ) -> Result<(Store, usize)> {
        let mut clients = Vec::new();
        let mut names = Vec::new();
        let mut item = usize::MAX;
        let usage = Arc::new(Counters::default());
        for (i, (host, port)) in spec.servers.iter().enumerate() {
            let name = spec.server(i);
            let left = deadline.saturating_duration_since(Instant::now());
            let setup = async {
                // `stats`, `stats settings`, then a no-op on the client's connection.
                usage.requests(3);
                let max = settings(host, *port, &name).await?;
                let client = AsyncMetaClient::builder()
                    .connect_timeout(Some(left.clamp(Duration::from_millis(100), io_timeout)))
                    .io_timeout(Some(io_timeout))
                    .connect_async((host.as_str(), *port))
                    .await
                    .map_err(|e| server_error(&name, "cannot connect", e))?;
                client
                    .noop()
                    .await
                    .map_err(|e| server_error(&name, "does not answer", e))?;
                Ok::<_, Error>((client, max))
            };
            let (client, max) =
                tokio::time::timeout_at(deadline, setup)
                    .await
                    .map_err(|_| {
                        Error::new(
                            ErrorKind::Timeout,
                            format!("memcached server {name}: no answer within the set-up timeout"),
                        )
                    })??;
            item = item.min(max);
            clients.push(client);
            names.push(name);
        }
        let lanes = Lanes::new(
            spec.servers.clone(),
            names.clone(),
            io_timeout,
            ttl,
            Arc::clone(&usage),
        );
        Ok((
            Store {
                clients,
                lanes,
                names,
                ttl,
                usage,
            },
            item,
        ))
    }

    /// How long the job's items live, in seconds.
    pub(crate) fn ttl(&self) -> u32 {
        self.ttl
    }

    /// The number of servers.
    pub(crate) fn len(&self) -> usize {
        self.clients.len()
    }

    /// Server `i` as `HOST:PORT`.
    pub(crate) fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// `key` with the server it lives on.
    pub(crate) fn at(&self, key: String) -> (usize, String) {
        (route(&key, self.clients.len()), key)
    }

    /// Runs `op` on the keys grouped per server, the groups concurrently; returns one
    /// output per key, in order, or the first server's error.
    async fn batch<T, F, Fut>(&self, keys: &[(usize, String)], op: F) -> Result<Vec<T>>
    where
        F: Fn(usize, Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<T>>>,
    {
        self.usage.requests(keys.len());
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); self.clients.len()];
        for (i, (server, _)) in keys.iter().enumerate() {
            groups[*server].push(i);
        }
        let runs = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| !g.is_empty())
            .map(|(s, g)| {
                let keys = g.iter().map(|&i| keys[i].1.clone()).collect();
                op(s, keys)
            });
        let results = join_all(runs).await;
        let mut out: Vec<Option<T>> = (0..keys.len()).map(|_| None).collect();
        let nonempty = groups.iter().filter(|g| !g.is_empty());
        for (group, result) in nonempty.zip(results) {
            for (&i, v) in group.iter().zip(result?) {
                out[i] = Some(v);
            }
        }
        Ok(out
            .into_iter()
            .map(|v| v.expect("one output per key"))
            .collect())
    }

    /// Reads `keys` (each on its server) in one round trip per server.
    pub(crate) async fn get(&self, keys: &[(usize, String)]) -> Result<Vec<Option<Item>>> {
        self.get_touching(keys, &std::collections::HashSet::new())
            .await
    }

    /// Reads `keys` as [`Store::get`] does, renewing the expiry of those in `touch`.
    pub(crate) async fn get_touching(
        &self,
        keys: &[(usize, String)],
        touch: &std::collections::HashSet<String>,
    ) -> Result<Vec<Option<Item>>> {
        self.batch(keys, |s, keys| async move {
            let gets = keys.iter().map(|k| match touch.contains(k) {
                true => Get::new(k)
                    .meta(Meta::NONE.cas())
                    .touch(Ttl::secs(self.ttl)),
                false => Get::new(k).meta(Meta::NONE.cas()),
            });
            let name = &self.names[s];
            let results = self.clients[s]
                .run_many(gets)
                .await
                .map_err(|e| server_error(name, "cannot read", e))?;
            results
                .into_iter()
                .map(|r| {
                    let r = r.map_err(|e| server_error(name, "cannot read", e))?;
                    Ok(match (r.status, r.value) {
                        (GetStatus::Hit, Some(value)) => Some(Item {
                            value,
                            cas: r.item.cas.unwrap_or(0),
                        }),
                        _ => None,
                    })
                })
                .collect()
        })
        .await
    }

    /// Stores `items` (each on its server, with the job's expiry), one round trip per
    /// server.
    pub(crate) async fn set(&self, items: Vec<((usize, String), Vec<u8>)>) -> Result<()> {
        let (keys, values): (Vec<_>, Vec<_>) = items.into_iter().unzip();
        let values = &values;
        let index: std::collections::HashMap<&str, usize> = keys
            .iter()
            .enumerate()
            .map(|(i, (_, k))| (k.as_str(), i))
            .collect();
        let index = &index;
        self.batch(&keys, |s, keys| async move {
            let sets = keys
                .iter()
                .map(|k| Set::new(k, &values[index[k.as_str()]]).ttl(Ttl::secs(self.ttl)));
            let name = &self.names[s];
            let results = self.clients[s]
                .run_many(sets)
                .await
                .map_err(|e| server_error(name, "cannot store", e))?;
            results
                .into_iter()
                .map(|r| match r {
                    Ok(r) if r.applied() => Ok(()),
                    Ok(r) => Err(server_error(
                        name,
                        "refused to store",
                        format!("{:?}", r.status),
                    )),
                    Err(e) => Err(server_error(name, "cannot store", e)),
                })
                .collect()
        })
        .await?;
        Ok(())
    }

    /// Adds `value` under `key` on server `s` if it is not there yet; whether it was added.
    pub(crate) async fn add(&self, s: usize, key: &str, value: &[u8]) -> Result<bool> {
        let set = Set::new(key, value).ttl(Ttl::secs(self.ttl)).add();
        self.mutate(s, set).await
    }

    /// Appends `value` to `key` on server `s`; false if `key` is not there.
    pub(crate) async fn append(&self, s: usize, key: &str, value: &[u8]) -> Result<bool> {
        self.mutate(s, Set::new(key, value).append()).await
    }

    async fn mutate(&self, s: usize, set: Set) -> Result<bool> {
        let name = &self.names[s];
        self.usage.requests(1);
        match self.clients[s].run(set).await {
            Ok(r) if r.applied() => Ok(true),
            Ok(r)
                if matches!(
                    r.status,
                    MutationStatus::NotFound | MutationStatus::AlreadyExists
                ) =>
            {
                Ok(false)
            }
            Ok(r) => Err(server_error(
                name,
                "refused to store",
                format!("{:?}", r.status),
            )),
            Err(e) => Err(server_error(name, "cannot store", e)),
        }
    }

    /// Deletes `keys` (each on its server); a key not there is not an error.
    pub(crate) async fn delete(&self, keys: &[(usize, String)]) -> Result<()> {
        self.batch(keys, |s, keys| async move {
            let name = &self.names[s];
            let results = self.clients[s]
                .run_many(keys.iter().map(Delete::new))
                .await
                .map_err(|e| server_error(name, "cannot delete", e))?;
            results
                .into_iter()
                .map(|r| {
                    r.map(|_| ())
                        .map_err(|e| server_error(name, "cannot delete", e))
                })
                .collect()
        })
        .await?;
        Ok(())
    }

    /// Deletes `key` on server `s` if it still is the item whose CAS token is `cas`.
    pub(crate) async fn delete_if(&self, s: usize, key: &str, cas: u64) -> Result<()> {
        let name = &self.names[s];
        self.usage.requests(1);
        self.clients[s]
            .run(Delete::new(key).compare_cas(cas))
            .await
            .map(|_| ())
            .map_err(|e| server_error(name, "cannot delete", e))
    }

    /// Adds `delta` to the counter `key` (created at `initial` + `delta` if missing) and
    /// returns its new value.
    pub(crate) async fn arith(&self, key: &str, initial: u64, delta: i64) -> Result<u64> {
        let s = route(key, self.clients.len());
        let name = &self.names[s];
        let mut op = Arithmetic::new(key)
            .delta(delta.unsigned_abs())
            .initial(initial.wrapping_add_signed(delta), self.ttl);
        if delta < 0 {
            op = op.decrement();
        }
        self.usage.requests(1);
        let r = self.clients[s]
            .run(op)
            .await
            .map_err(|e| server_error(name, "cannot count", e))?;
        r.value
            .ok_or_else(|| server_error(name, "cannot count", format!("{:?}", r.status)))
    }
}

/// Reads `item_size_max` from `stats settings` of the server at `host:port`, after checking
/// (`stats`) that it is memcached 1.6 or later, whose meta commands this transport uses.
async fn settings(host: &str, port: u16, name: &str) -> Result<usize> {
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| server_error(name, "cannot connect", e))?;
    let mut stream = BufReader::new(stream);
    let mut version = None;
    let mut item = None;
    for command in ["stats\r\n", "stats settings\r\n"] {
        stream
            .get_mut()
            .write_all(command.as_bytes())
            .await
            .map_err(|e| server_error(name, "cannot ask for its settings", e))?;
        loop {
            let mut line = String::new();
            let n = stream
                .read_line(&mut line)
                .await
                .map_err(|e| server_error(name, "cannot read its settings", e))?;
            let line = line.trim_end();
            if n == 0 || line == "END" || line.contains("ERROR") {
                break;
            }
            match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["STAT", "version", v] => version = Some(v.to_string()),
                ["STAT", "item_size_max", v] => item = v.parse::<usize>().ok(),
                _ => {}
            }
        }
    }
    let version = version.unwrap_or_default();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < (1, 6) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("memcached server {name} is version {version:?}; fccl needs 1.6 or later"),
        ));
    }
    item.ok_or_else(|| server_error(name, "no item_size_max in its settings", "stats settings"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_is_stable_and_spreads() {
        assert_eq!(route("a", 1), 0);
        let hits = (0..100)
            .filter(|i| route(&format!("k:{i}"), 2) == 0)
            .count();
        assert!((20..80).contains(&hits), "{hits}");
        assert_eq!(
            route("fccl:x:msg:1:2:3:0", 3),
            route("fccl:x:msg:1:2:3:0", 3)
        );
    }
}
