//! Benchmark 6, memory: the growth of the server's resident set size (VmRSS) per row held in a
//! materialized view of the benchmark records, divided by the records' raw payload size. A first,
//! identical view is built before measuring, so the source's and the engine's fixed start-up costs
//! are not charged to the rows; then at least `MEASURED_VIEWS` more are built, enough to hold
//! `MEASURED_ROWS` rows, and the growth over all of them is divided by their rows (one view alone
//! can fit into memory the allocator kept from the first, which once read as 0 bytes per row; and
//! at `--quick`'s 2,000 records three views grew RSS by less than the allocator returned meanwhile).
//! No growth at all is reported as a failed measurement.

use std::time::Duration;

use crate::emulator::Emulator;
use crate::error::{BenchError, Result};
use crate::freshet::{execute, wait_for_value, Server, ServerConfig};
use crate::ingest::Stream;
use crate::report::{progress, Summary, Target};
use crate::Plan;

/// Fewest identical views built after the warm-up view and measured together.
const MEASURED_VIEWS: u64 = 3;
/// Fewest rows the measured views hold together.
const MEASURED_ROWS: u64 = 20_000;
/// Lets allocations settle before RSS is read.
const SETTLE: Duration = Duration::from_secs(1);

pub async fn run(
    plan: &Plan,
    config: &ServerConfig,
    emulator: &Emulator,
    stream: &Stream,
    summary: &mut Summary,
) -> Result<()> {
    progress(&format!("memory: a view holding {} records", stream.records));
    let server = Server::start(config).await?;
    let client = server.connect().await?;
    let arn = emulator.stream_arn(stream.name);
    execute(&client, &format!("CREATE SOURCE mem_src FROM KINESIS ARN '{arn}' FORMAT JSON")).await?;
    let views = MEASURED_VIEWS.max(MEASURED_ROWS.div_ceil(stream.records.max(1)));
    let mut before = 0;
    for n in 0..=views {
        let view = format!("mem_mv{n}");
        if n == 1 {
            tokio::time::sleep(SETTLE).await;
            before = server.rss_bytes()?;
        }
        execute(
            &client,
            &format!(
                "CREATE MATERIALIZED VIEW {view} AS SELECT (data->>'id')::bigint AS id, data->>'user' AS user_name,
                   data->>'region' AS region, (data->>'amount')::bigint AS amount, data->>'ts' AS ts,
                   data->>'payload' AS payload FROM mem_src;"
            ),
        )
        .await?;
        let sql = format!("SELECT count(*) FROM {view}");
        wait_for_value(&client, &sql, stream.records as i64, Duration::from_millis(50), plan.limit).await?;
    }
    tokio::time::sleep(SETTLE).await;
    let after = server.rss_bytes()?;
    if after <= before {
        return Err(BenchError::Setup(format!(
            "no measurable VmRSS growth ({before} -> {after} bytes) over {views} views"
        )));
    }
    let per_row = (after - before) as f64 / (views * stream.records) as f64;
    let payload = stream.bytes as f64 / stream.records as f64;
    let note = format!("VmRSS growth {:.0} B/row over {payload:.0} B payload, {} records", per_row, stream.records);
    summary.add("memory_bytes_per_row_ratio", per_row / payload, Target::AtMost(3.0), note);
    summary.add(
        "memory_bytes_per_row",
        per_row,
        Target::None,
        format!("marginal: {views} more identical views after a first"),
    );
    Ok(())
}
