//! The memcached transport spec: `memcached://HOST:PORT[,HOST:PORT...][?item=BYTES]`.

use fccl_collectives::{Error, Result};

/// The smallest item size `?item=` may ask for.
pub const MIN_ITEM_BYTES: usize = 4096;

/// A parsed `memcached://` spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemcachedSpec {
    /// The servers as `(host, port)`, in the order given (an IPv6 host without brackets).
    pub servers: Vec<(String, u16)>,
    /// The largest item this job stores, if the spec caps it below the servers' own
    /// `item_size_max` (`?item=BYTES`).
    pub item_bytes: Option<usize>,
}

impl MemcachedSpec {
    /// Parses `spec`, refusing anything else with an
    /// [`InvalidArgument`](fccl_collectives::ErrorKind::InvalidArgument) error that names
    /// the bad part.
    pub fn parse(spec: &str) -> Result<MemcachedSpec> {
        let bad = |why: String| Error::invalid(format!("memcached spec {spec:?}: {why}"));
        let rest = spec
            .strip_prefix("memcached://")
            .ok_or_else(|| bad("must start with memcached://HOST:PORT".into()))?;
        let (list, query) = match rest.split_once('?') {
            Some((l, q)) => (l, Some(q)),
            None => (rest, None),
        };
        if list.contains(['/', '#', '@']) {
            return Err(bad(
                "takes no path, user or fragment, only memcached://HOST:PORT[,HOST:PORT...]".into(),
            ));
        }
        let servers = list
            .split(',')
            .map(|s| parse_server(s).map_err(|why| bad(format!("server {s:?}: {why}"))))
            .collect::<Result<Vec<_>>>()?;
        for (i, s) in servers.iter().enumerate() {
            if servers[..i].contains(s) {
                return Err(bad(format!("server {}:{} is listed twice", s.0, s.1)));
            }
        }
        let mut item_bytes = None;
        for option in query.into_iter().flat_map(|q| q.split('&')) {
            let (name, value) = option.split_once('=').unwrap_or((option, ""));
            match name {
                "item" if item_bytes.is_none() => {
                    let n = value
                        .parse::<usize>()
                        .ok()
                        .filter(|&n| n >= MIN_ITEM_BYTES)
                        .ok_or_else(|| {
                            bad(format!(
                                "item={value:?}: must be a number of bytes, at least \
                                 {MIN_ITEM_BYTES}"
                            ))
                        })?;
                    item_bytes = Some(n);
                }
                "item" => return Err(bad("item= is given twice".into())),
                _ => return Err(bad(format!("unknown option {option:?} (only item=BYTES)"))),
            }
        }
        Ok(MemcachedSpec {
            servers,
            item_bytes,
        })
    }

    /// Server `i` as `HOST:PORT` (brackets around an IPv6 address), for messages.
    pub fn server(&self, i: usize) -> String {
        let (host, port) = &self.servers[i];
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

fn parse_server(s: &str) -> std::result::Result<(String, u16), &'static str> {
    let (host, port) = s.rsplit_once(':').ok_or("must be HOST:PORT")?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or("the port must be a number from 1 to 65535")?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6
            .strip_suffix(']')
            .filter(|h| h.contains(':'))
            .ok_or("an IPv6 address must be in brackets")?,
        None if host.contains([':', '[', ']']) => {
            return Err("an IPv6 address must be in brackets");
        }
        None => host,
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("must be HOST:PORT");
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use fccl_collectives::ErrorKind;

    use super::*;

    #[test]
    fn parses_one_or_more_servers_and_the_item_size() {
        let s = MemcachedSpec::parse("memcached://10.0.0.1:11211").unwrap();
        assert_eq!(s.servers, vec![("10.0.0.1".to_string(), 11211)]);
        assert_eq!(s.item_bytes, None);
        let s = MemcachedSpec::parse("memcached://a:1,[::1]:2,b.local:3?item=65536").unwrap();
        assert_eq!(s.servers.len(), 3);
        assert_eq!((s.server(0), s.server(1)), ("a:1".into(), "[::1]:2".into()));
        assert_eq!(s.servers[1].0, "::1");
        assert_eq!(s.item_bytes, Some(65536));
    }

    #[test]
    fn refuses_bad_specs_naming_the_bad_part() {
        for (spec, names) in [
            ("memcached", "must start"),
            ("memcached://", "server \"\""),
            ("memcached://host", "server \"host\""),
            ("memcached://h:1,", "server \"\""),
            ("memcached://h:1,h2", "server \"h2\""),
            ("memcached://h:0", "port"),
            ("memcached://h:99999", "port"),
            ("memcached://::1:11211", "brackets"),
            ("memcached://[::1:11211", "brackets"),
            ("memcached://h:1/x", "path"),
            ("memcached://u@h:1", "user"),
            ("memcached://h:1?item=12", "item=\"12\""),
            ("memcached://h:1?item=x", "item="),
            ("memcached://h:1?item=8192&item=8192", "twice"),
            ("memcached://h:1?ttl=3", "unknown option"),
            ("memcached://h:1,h:1", "listed twice"),
            ("redis://h:1", "must start"),
        ] {
            let e = MemcachedSpec::parse(spec).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{spec}");
            assert!(e.to_string().contains(names), "{spec}: {e}");
        }
    }
}
