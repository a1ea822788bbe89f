//! `freshet-bench-dbsp`: Nexmark q0, q1, q2, q3, q4, q5, q7 and q8 written directly against dbsp,
//! over the same deterministic events (the `nexmark` crate's generator, base time 0) that
//! freshet-bench loads into Freshet. The events are generated once; then each query name read from
//! stdin (one per line, until end of input) gets a fresh circuit, every event is pushed, one
//! transaction processes them, and the time of that transaction is reported with the number of
//! result rows, so freshet-bench can check that both engines computed the same result. Taking
//! queries one at a time lets freshet-bench interleave them with Freshet's own, so that each pair
//! of figures is measured moments apart on a noisy machine.
//!
//! The queries compute every window, as the SQL versions do (Feldera's own Rust versions keep only
//! the current window behind a watermark, which is a different and cheaper computation).
//!
//! Output: one JSON object per query, on its own line and flushed at once:
//! `{"query": "q0", "seconds": 0.41, "rows": 920000}`.

use std::io::{BufRead, Write};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use dbsp::operator::Max;
use dbsp::utils::{Tup2, Tup3, Tup4, Tup5};
use dbsp::{DBSPHandle, OutputHandle, Runtime, ZSetHandle};
use nexmark::config::NexmarkConfig;
use nexmark::event::Event;
use nexmark::EventGenerator;

// Feldera's pipelines run on mimalloc, and so does the freshet server: the figures compare engines,
// not allocators.
#[global_allocator]
static ALLOCATOR: dbsp::mimalloc::MiMalloc = dbsp::mimalloc::MiMalloc;

/// Nexmark on dbsp: prints one JSON line per query.
#[derive(Debug, Parser)]
struct Args {
    /// Events to generate (2% people, 6% auctions, 92% bids).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// dbsp worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

/// person(id, name, city, state, date_time)
type Person = Tup5<u64, String, String, String, u64>;
/// auction(id, seller, category, date_time, expires)
type Auction = Tup5<u64, u64, u64, u64, u64>;
/// bid(auction, bidder, price, date_time, extra)
type Bid = Tup5<u64, u64, u64, u64, String>;

struct Events {
    people: Vec<Person>,
    auctions: Vec<Auction>,
    bids: Vec<Bid>,
}

fn generate(events: u64) -> Events {
    let config = NexmarkConfig { base_time: 0, ..Default::default() };
    let mut out = Events { people: Vec::new(), auctions: Vec::new(), bids: Vec::new() };
    for event in EventGenerator::new(config).take(events as usize) {
        match event {
            Event::Person(p) => out.people.push(Tup5(p.id as u64, p.name, p.city, p.state, p.date_time)),
            Event::Auction(a) => {
                out.auctions.push(Tup5(a.id as u64, a.seller as u64, a.category as u64, a.date_time, a.expires))
            }
            Event::Bid(b) => {
                out.bids.push(Tup5(b.auction as u64, b.bidder as u64, b.price as u64, b.date_time, b.extra))
            }
        }
    }
    out
}

type Inputs = (ZSetHandle<Person>, ZSetHandle<Auction>, ZSetHandle<Bid>);

/// A query's output: rows of any shape, counted by weight.
trait RowCount {
    fn rows(&self) -> i64;
}

/// Every worker's accumulated output of the last transaction (a transaction can take several
/// steps; `output()` would keep only the last step's changes).
impl<T: dbsp::IndexedZSetReader + Clone + Send + 'static> RowCount for OutputHandle<T> {
    fn rows(&self) -> i64 {
        self.take_from_all().iter().flat_map(|batch| batch.iter().map(|(_, _, weight)| weight)).sum()
    }
}

/// Builds `query` on a fresh `workers`-thread circuit, pushes every event, and times one transaction.
fn run_query(name: &str, workers: usize, events: &Events) -> Result<(f64, i64)> {
    let name_owned = name.to_string();
    let (mut handle, (inputs, output)): (DBSPHandle, (Inputs, Box<dyn RowCount + Send>)) =
        Runtime::init_circuit(workers, move |c| {
            let (people, people_in) = c.add_input_zset::<Person>();
            let (auctions, auctions_in) = c.add_input_zset::<Auction>();
            let (bids, bids_in) = c.add_input_zset::<Bid>();
            let output: Box<dyn RowCount + Send> = match name_owned.as_str() {
                "q0" => Box::new(bids.map(|b| b.clone()).accumulate_output()),
                "q1" => Box::new(
                    bids.map(|Tup5(a, bidder, price, dt, x)| Tup5(*a, *bidder, price * 908 / 1000, *dt, x.clone()))
                        .accumulate_output(),
                ),
                "q2" => Box::new(
                    bids.flat_map(|Tup5(a, _, price, _, _)| (a % 123 == 0).then_some(Tup2(*a, *price)))
                        .accumulate_output(),
                ),
                "q3" => {
                    let sellers = auctions
                        .flat_map_index(|Tup5(id, seller, category, _, _)| (*category == 10).then_some((*seller, *id)));
                    let local = people.flat_map_index(|Tup5(id, name, city, state, _)| {
                        matches!(state.as_str(), "or" | "id" | "ca")
                            .then(|| (*id, Tup3(name.clone(), city.clone(), state.clone())))
                    });
                    Box::new(
                        sellers
                            .join(&local, |_, auction, Tup3(n, c, s)| Tup4(n.clone(), c.clone(), s.clone(), *auction))
                            .accumulate_output(),
                    )
                }
                "q4" => {
                    let by_id =
                        auctions.map_index(|Tup5(id, _, category, dt, expires)| (*id, Tup3(*category, *dt, *expires)));
                    let by_auction = bids.map_index(|Tup5(auction, _, price, dt, _)| (*auction, Tup2(*price, *dt)));
                    let winning = by_id
                        .join_index(&by_auction, |id, Tup3(category, start, end), Tup2(price, dt)| {
                            (start <= dt && dt <= end).then_some((Tup2(*id, *category), *price))
                        })
                        .aggregate(Max);
                    let per_category = winning.map_index(|(Tup2(_, category), price)| (*category, *price as i64));
                    let sums = per_category.aggregate_linear(|price: &i64| Tup2(1i64, *price));
                    Box::new(sums.map(|(category, Tup2(n, sum))| Tup2(*category, sum / n)).accumulate_output())
                }
                "q5" => {
                    let hops = bids.flat_map(|Tup5(auction, _, _, dt, _)| {
                        let last = (*dt as i64) / 2000 * 2000;
                        let auction = *auction;
                        (0..5).map(move |k| Tup2(auction, last - k * 2000))
                    });
                    let counts = hops.weighted_count();
                    let max = counts.map_index(|(Tup2(_, start), n)| (*start, *n)).aggregate(Max);
                    let by_start = counts.map_index(|(Tup2(auction, start), n)| (*start, Tup2(*auction, *n)));
                    let hot = by_start
                        .join(&max, |start, Tup2(auction, n), max| Tup4(*start, *auction, *n, *max))
                        .filter(|Tup4(_, _, n, max)| n >= max);
                    Box::new(hot.accumulate_output())
                }
                "q7" => {
                    let max = bids.map_index(|Tup5(_, _, price, dt, _)| (dt / 10000 * 10000, *price)).aggregate(Max);
                    let keyed = bids.map_index(|b| (Tup2(b.3 / 10000 * 10000, b.2), b.clone()));
                    let top = max.map_index(|(window, price)| (Tup2(*window, *price), ()));
                    Box::new(keyed.join(&top, |_, bid, ()| bid.clone()).accumulate_output())
                }
                "q8" => {
                    let new_people = people
                        .map(|Tup5(id, name, _, _, dt)| Tup3(*id, name.clone(), dt / 10000 * 10000))
                        .distinct()
                        .map_index(|Tup3(id, name, window)| (Tup2(*id, *window), name.clone()));
                    let sellers = auctions
                        .map(|Tup5(_, seller, _, dt, _)| Tup2(*seller, dt / 10000 * 10000))
                        .distinct()
                        .map_index(|key| (*key, ()));
                    Box::new(
                        new_people
                            .join(&sellers, |Tup2(id, window), name, ()| Tup3(*id, name.clone(), *window))
                            .accumulate_output(),
                    )
                }
                other => return Err(anyhow::anyhow!("unknown query {other}")),
            };
            Ok(((people_in, auctions_in, bids_in), output))
        })
        .with_context(|| format!("building {name}"))?;
    // Only the inputs the query reads are fed, as Freshet's views read only the tables they name.
    let (reads_people, reads_auctions, reads_bids) = match name {
        "q3" | "q8" => (true, true, false),
        "q4" => (false, true, true),
        _ => (false, false, true),
    };
    let mut people: Vec<_> = events.people.iter().filter(|_| reads_people).map(|p| Tup2(p.clone(), 1)).collect();
    let mut auctions: Vec<_> = events.auctions.iter().filter(|_| reads_auctions).map(|a| Tup2(*a, 1)).collect();
    let mut bids: Vec<_> = events.bids.iter().filter(|_| reads_bids).map(|b| Tup2(b.clone(), 1)).collect();
    let started = Instant::now();
    inputs.0.append(&mut people);
    inputs.1.append(&mut auctions);
    inputs.2.append(&mut bids);
    handle.transaction().with_context(|| format!("running {name}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let rows = output.rows();
    handle.kill().map_err(|_| anyhow::anyhow!("stopping the {name} circuit"))?;
    Ok((seconds, rows))
}

const QUERIES: [&str; 8] = ["q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8"];

fn main() -> Result<()> {
    let args = Args::parse();
    let events = generate(args.events);
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading a query name from stdin")?;
        let query = line.trim();
        if query.is_empty() {
            continue;
        }
        if !QUERIES.contains(&query) {
            bail!("unknown query {query}; known: {}", QUERIES.join(", "));
        }
        let (seconds, rows) = run_query(query, args.workers, &events)?;
        writeln!(out, "{}", serde_json::json!({ "query": query, "seconds": seconds, "rows": rows }))?;
        out.flush()?;
    }
    Ok(())
}
