//! What one operation would cost on AWS: `fccl bench --cost aws`.
//!
//! `usd_per_op = lambda + queue + instance`, where, for an operation of median time `t`
//! on `p` ranks:
//! - `lambda = p · t · memory_gb · usd_per_gb_second`: every rank is a function, billed
//!   while the operation runs;
//! - `queue = billed_requests · usd_per_request`: the SQS requests of the operation (each
//!   64 KiB of a request's payload one), at the FIFO price for FIFO queues;
//! - `instance = Σ usd_per_hour · t / 3600` over the servers the job's media need (a store
//!   for `redis` and `memcached`, a rendezvous host for `tcp`): each instance's hour
//!   amortised over the time the operation takes of it.
//!
//! The prices live in one JSON file (`benches/prices/aws.json`, built in; a user passes an
//! edited copy with `--prices FILE`), each with its source and the day it was read.

use serde::Deserialize;

/// The built-in price list.
const AWS_PRICES: &str = include_str!("../prices/aws.json");

/// A price list, as the JSON file has it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Prices {
    /// Whose prices (`aws`).
    pub provider: String,
    /// The region they are for.
    pub region: String,
    /// The day they were read.
    pub read_on: String,
    /// Lambda's duration price and the function size assumed.
    pub lambda: LambdaPrices,
    /// SQS's request prices.
    pub sqs: SqsPrices,
    /// An instance of a memory store (redis or memcached).
    pub store: HourlyPrice,
    /// An instance that runs `fccl rendezvous`.
    pub rendezvous: HourlyPrice,
}

/// Lambda's duration price.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct LambdaPrices {
    /// US dollars per GB-second of function time.
    pub usd_per_gb_second: f64,
    /// The memory of each rank's function, in GB.
    pub memory_gb: f64,
    /// Where the price comes from.
    pub source: String,
}

/// SQS's request prices.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct SqsPrices {
    /// US dollars per billed request to a standard queue.
    pub usd_per_request: f64,
    /// US dollars per billed request to a FIFO queue.
    pub usd_per_fifo_request: f64,
    /// Where the prices come from.
    pub source: String,
}

/// An instance billed by the hour.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct HourlyPrice {
    /// US dollars per hour.
    pub usd_per_hour: f64,
    /// Where the price comes from.
    pub source: String,
}

impl Prices {
    /// The built-in AWS price list.
    pub fn aws() -> Prices {
        Prices::parse(AWS_PRICES).expect("the built-in price list parses")
    }

    /// A price list from its JSON text, refusing negative or missing prices.
    pub fn parse(text: &str) -> Result<Prices, String> {
        let prices: Prices =
            serde_json::from_str(text).map_err(|e| format!("not a price list: {e}"))?;
        let all = [
            ("lambda.usd_per_gb_second", prices.lambda.usd_per_gb_second),
            ("lambda.memory_gb", prices.lambda.memory_gb),
            ("sqs.usd_per_request", prices.sqs.usd_per_request),
            ("sqs.usd_per_fifo_request", prices.sqs.usd_per_fifo_request),
            ("store.usd_per_hour", prices.store.usd_per_hour),
            ("rendezvous.usd_per_hour", prices.rendezvous.usd_per_hour),
        ];
        if let Some((name, v)) = all.iter().find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
            return Err(format!("price {name} is {v}: prices are numbers from 0"));
        }
        Ok(prices)
    }
}

/// The rates one job's operations are charged at, from a price list and the job's
/// transport spec.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostModel {
    /// Dollars per rank per second of an operation (the ranks' functions).
    pub usd_per_rank_second: f64,
    /// Dollars per billed request (SQS media).
    pub usd_per_billed_request: f64,
    /// Dollars per second of the servers the media need.
    pub usd_per_server_second: f64,
}

impl CostModel {
    /// The rates of a job over `transport` (a spec or its media names joined by `+`:
    /// `tcp`, `sqs://...?fifo=true`, `tcp+redis`) at `prices`.
    pub fn new(prices: &Prices, transport: &str) -> CostModel {
        let media: Vec<&str> = transport
            .split('+')
            .map(|m| m.split([':', '?']).next().unwrap_or(m))
            .collect();
        let has = |name: &str| media.contains(&name);
        let mut server_hour = 0.0;
        if has("tcp") {
            server_hour += prices.rendezvous.usd_per_hour;
        }
        if has("redis") || has("memcached") {
            server_hour += prices.store.usd_per_hour;
        }
        CostModel {
            usd_per_rank_second: prices.lambda.memory_gb * prices.lambda.usd_per_gb_second,
            usd_per_billed_request: if transport.contains("fifo=true") {
                prices.sqs.usd_per_fifo_request
            } else {
                prices.sqs.usd_per_request
            },
            usd_per_server_second: server_hour / 3600.0,
        }
    }

    /// The cost of one operation of `time_us` microseconds on `ranks` ranks that made
    /// `billed_requests` billed requests.
    pub fn operation(&self, ranks: usize, time_us: f64, billed_requests: f64) -> Cost {
        let seconds = time_us / 1e6;
        Cost {
            lambda: ranks as f64 * seconds * self.usd_per_rank_second,
            queue: billed_requests * self.usd_per_billed_request,
            instance: seconds * self.usd_per_server_second,
        }
    }
}

/// The estimated dollars of one operation, by what is billed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cost {
    /// The ranks' function time.
    pub lambda: f64,
    /// The queue requests.
    pub queue: f64,
    /// The servers' time.
    pub instance: f64,
}

impl Cost {
    /// All of it.
    pub fn total(&self) -> f64 {
        self.lambda + self.queue + self.instance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_list_has_every_price_with_its_source() {
        let p = Prices::aws();
        assert_eq!(
            (p.provider.as_str(), p.region.as_str()),
            ("aws", "us-east-1")
        );
        assert_eq!(p.lambda.usd_per_gb_second, 0.000_016_666_7);
        assert_eq!(p.sqs.usd_per_request, 0.40e-6);
        for source in [
            &p.lambda.source,
            &p.sqs.source,
            &p.store.source,
            &p.rendezvous.source,
        ] {
            assert!(source.contains("https://"), "{source}");
        }
    }

    #[test]
    fn an_operation_costs_its_function_time_requests_and_servers() {
        let p = Prices::aws();
        // 4 ranks for 10 ms over SQS, 20 billed requests: no server.
        let sqs = CostModel::new(&p, "sqs://us-east-1/jobs").operation(4, 10_000.0, 20.0);
        let lambda = 4.0 * 0.010 * 2.0 * 0.000_016_666_7;
        assert!((sqs.lambda - lambda).abs() < 1e-15);
        assert!((sqs.queue - 20.0 * 0.40e-6).abs() < 1e-15);
        assert_eq!(sqs.instance, 0.0);
        let fifo = CostModel::new(&p, "sqs://us-east-1/jobs?fifo=true").operation(4, 0.0, 20.0);
        assert!((fifo.queue - 20.0 * 0.50e-6).abs() < 1e-15);
        // tcp and a store: a rendezvous and a store instance, for the op's 36 ms.
        let both = CostModel::new(&p, "tcp+redis").operation(2, 36_000.0, 0.0);
        let servers = (0.0104 + 0.017) * 0.036 / 3600.0;
        assert!((both.instance - servers).abs() < 1e-15);
        assert!((both.total() - both.lambda - servers).abs() < 1e-15);
        assert_eq!(CostModel::new(&p, "local").usd_per_server_second, 0.0);
    }

    #[test]
    fn bad_price_lists_are_refused() {
        assert!(Prices::parse("{}").is_err());
        let negative = AWS_PRICES.replace("0.017", "-1");
        let e = Prices::parse(&negative).unwrap_err();
        assert!(e.contains("store.usd_per_hour"), "{e}");
    }
}
