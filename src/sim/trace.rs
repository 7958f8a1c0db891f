//! Trace loaders: real serverless workloads in the layouts they are published in.
//!
//! * **Azure Functions 2019** per-minute invocation counts: the published
//!   layout `HashOwner,HashApp,HashFunction,Trigger,1..1440` and the In-Vitro
//!   sample layout `HashFunction,HashOwner,HashApp,minute_1..`. Minute columns
//!   may start at any minute (e.g. `480..959`) but must be consecutive. They
//!   are joined with the duration percentiles (`*_run.csv`,
//!   `function_durations_percentiles`) on `(HashApp, HashFunction)` and with
//!   the memory file (`*_mem.csv`, `app_memory_percentiles`) on `HashApp`,
//!   when those files are given or sit beside the invocation file.
//! * **Azure Functions 2021** per-invocation records `app,func,end_timestamp,duration`
//!   (seconds); start = end - duration.
//! * **A plain `timestamp,concurrency` CSV** for one function (e.g. a
//!   CloudWatch export of `ConcurrentExecutions`): each row's concurrency is
//!   replayed as that many invocations lasting until the next row.
//!
//! Every bad row is reported with its file, line and column; nothing panics.
//! The bundled default (the 1350-function Azure 2019 day, CC BY 4.0, see
//! `traces/SOURCES.md`) is embedded in the binary so that `pcscale simulate`
//! works from any directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// The bundled invocation counts (Azure Functions 2019, In-Vitro sample).
const BUNDLED_INV: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/traces/1350_inv.csv"));
/// The bundled duration percentiles.
const BUNDLED_RUN: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/traces/1350_run.csv"));
/// The bundled memory percentiles.
const BUNDLED_MEM: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/traces/1350_mem.csv"));

/// Lambda's maximum timeout: no invocation runs longer.
pub const LAMBDA_TIMEOUT_SECS: f64 = 900.0;

/// Trace files (and their companions) larger than this are refused before
/// parsing (a full Azure 2019 day is about 150 MB). Read with a bound, so
/// `--trace /dev/zero` fails at once instead of filling memory.
pub const MAX_TRACE_BYTES: u64 = 256 * 1024 * 1024;

/// The longest span a trace may cover (a leap year of minutes): every
/// per-minute buffer of the simulator is sized by it.
pub const MAX_TRACE_MINUTES: u32 = 366 * 24 * 60;

/// The highest concurrency one row of a `timestamp,concurrency` series may
/// carry (each unit is replayed as one invocation; Lambda's own regional
/// concurrency limits are in the tens of thousands).
pub const MAX_ROW_CONCURRENCY: f64 = 100_000.0;

/// The most invocations one minute of a per-minute trace may count (1.7
/// million a second, beyond any Lambda account's concurrency): it keeps
/// every in-flight count of the fast replay within `u32`.
pub const MAX_MINUTE_COUNT: u32 = 100_000_000;

/// The most invocations a trace of exact records may expand to (about
/// 800 MB of arrival and duration pairs).
pub const MAX_TRACE_INVOCATIONS: usize = 50_000_000;

/// Reads `path`, refusing more than [`MAX_TRACE_BYTES`] with an error naming it.
fn read_bounded(path: &Path) -> Result<Vec<u8>, TraceError> {
    use std::io::Read;
    let file = path.display().to_string();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TRACE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|source| TraceError::Io {
            file: file.clone(),
            source,
        })?;
    if bytes.len() as u64 > MAX_TRACE_BYTES {
        return Err(TraceError::Parse {
            file,
            line: 1,
            column: 1,
            message: format!("larger than {MAX_TRACE_BYTES} bytes; split the trace"),
        });
    }
    Ok(bytes)
}

/// A trace that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A row (or the header) is malformed.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// 1-based column (CSV field number).
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// The header matches none of the supported layouts.
    #[error("{file}:1:1: unrecognised trace layout: {message}")]
    Layout {
        /// The file.
        file: String,
        /// What was expected.
        message: String,
    },
}

/// Which layout a trace was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceFormat {
    /// Azure Functions 2019 per-minute counts.
    Azure2019,
    /// Azure Functions 2021 per-invocation records.
    Azure2021,
    /// `timestamp,concurrency` for one function.
    Concurrency,
    /// Per-minute `Invocations` and `Duration` of aliases, fetched from
    /// CloudWatch (`simulate --from-cloudwatch`).
    #[serde(rename = "cloudwatch")]
    CloudWatch,
}

/// Execution-time distribution from the Azure 2019 percentiles, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DurationDist {
    /// `(probability, seconds)` points, probability strictly increasing from
    /// 0 to 1, seconds non-decreasing.
    pub points: Vec<(f64, f64)>,
}

impl DurationDist {
    /// The percentiles Azure publishes: 0, 1, 25, 50, 75, 99, 100.
    pub const PROBABILITIES: [f64; 7] = [0.0, 0.01, 0.25, 0.50, 0.75, 0.99, 1.0];

    /// A distribution from the 7 published percentiles, in milliseconds.
    /// Values are made non-decreasing (the running maximum) and capped at
    /// Lambda's 900 s timeout.
    pub fn from_percentiles_ms(ms: [f64; 7]) -> DurationDist {
        let mut last = 0.0_f64;
        let points = Self::PROBABILITIES
            .iter()
            .zip(ms)
            .map(|(&p, v)| {
                last = last.max(v / 1000.0).min(LAMBDA_TIMEOUT_SECS);
                (p, last)
            })
            .collect();
        DurationDist { points }
    }

    /// A single fixed duration.
    pub fn constant(secs: f64) -> DurationDist {
        let s = secs.clamp(0.0, LAMBDA_TIMEOUT_SECS);
        DurationDist {
            points: vec![(0.0, s), (1.0, s)],
        }
    }

    /// Inverse CDF, piecewise linear between the points; `u` in `[0, 1]`.
    pub fn quantile(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        let pts = &self.points;
        for w in pts.windows(2) {
            let ((p0, v0), (p1, v1)) = (w[0], w[1]);
            if u <= p1 {
                if p1 <= p0 {
                    return v1;
                }
                return v0 + (v1 - v0) * (u - p0) / (p1 - p0);
            }
        }
        pts.last().map_or(0.0, |p| p.1)
    }
}

/// How a function's invocations are given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Arrivals {
    /// Invocations started in each minute (index 0 = the trace's first minute).
    PerMinute(Vec<u32>),
    /// Exact `(start, duration)` in seconds from the trace's start, sorted by start.
    Exact(Vec<(f64, f64)>),
}

/// One function of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionTrace {
    /// The trace's identifier (e.g. `HashFunction`, or `app:func`).
    pub id: String,
    /// A Lambda-valid function name derived from the id (1-64 of `[A-Za-z0-9_-]`).
    pub name: String,
    /// The trigger, when the trace says.
    pub trigger: Option<String>,
    /// Its invocations.
    pub arrivals: Arrivals,
    /// Execution-time distribution (per-minute traces only).
    pub durations: Option<DurationDist>,
    /// Memory from the trace, in MB (before Lambda's floor).
    pub memory_mb: Option<f64>,
}

impl FunctionTrace {
    /// Total invocations.
    pub fn invocation_count(&self) -> u64 {
        match &self.arrivals {
            Arrivals::PerMinute(c) => c.iter().map(|&v| u64::from(v)).sum(),
            Arrivals::Exact(v) => v.len() as u64,
        }
    }
}

/// A loaded trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Where it came from, for people.
    pub name: String,
    /// Its layout.
    pub format: TraceFormat,
    /// Minute of the day (0-based) of the trace's first minute.
    pub start_minute: u32,
    /// Length in minutes.
    pub minutes: u32,
    /// The functions, in file order.
    pub functions: Vec<FunctionTrace>,
    /// Things the loader had to assume (missing durations, ...).
    pub notes: Vec<String>,
}

/// Optional companion files of an Azure 2019 invocation file, and what a
/// `timestamp,concurrency` CSV cannot say.
#[derive(Debug, Clone, Default)]
pub struct Companions {
    /// Duration percentiles (`*_run.csv`).
    pub durations: Option<PathBuf>,
    /// Memory percentiles (`*_mem.csv`).
    pub memory: Option<PathBuf>,
    /// `timestamp,concurrency` CSV: the function's memory, MB (default
    /// [`super::pricing::DEFAULT_MEMORY_MB`]).
    pub memory_mb: Option<f64>,
    /// `timestamp,concurrency` CSV: each unit of concurrency is replayed as
    /// back-to-back invocations of this many seconds (default: one
    /// invocation lasting until the next row).
    pub duration_secs: Option<f64>,
}

/// The companion files the Azure 2019 dataset ships beside an invocation
/// file named `name`: the sample's `<stem>_inv.csv` ->
/// `<stem>_run.csv`, `<stem>_mem.csv`, and the upstream
/// `invocations_per_function_md.anon.dNN.csv` ->
/// `function_durations_percentiles.anon.dNN.csv`,
/// `app_memory_percentiles.anon.dNN.csv`.
pub fn companion_names(name: &str) -> Option<(String, String)> {
    if let Some(stem) = name.strip_suffix("_inv.csv") {
        return Some((format!("{stem}_run.csv"), format!("{stem}_mem.csv")));
    }
    let day = name
        .strip_prefix("invocations_per_function_md.anon.")?
        .strip_suffix(".csv")?;
    Some((
        format!("function_durations_percentiles.anon.{day}.csv"),
        format!("app_memory_percentiles.anon.{day}.csv"),
    ))
}

impl Trace {
    /// The bundled real trace: 1350 functions of one day of Azure Functions 2019.
    pub fn bundled() -> Result<Trace, TraceError> {
        let mut t = parse_2019(
            "bundled:1350_inv.csv",
            BUNDLED_INV,
            Some(("bundled:1350_run.csv", BUNDLED_RUN)),
            Some(("bundled:1350_mem.csv", BUNDLED_MEM)),
        )?;
        t.name = "bundled Azure Functions 2019 day (1350 functions, CC BY 4.0)".into();
        Ok(t)
    }

    /// Loads `path`, detecting the layout from its header. For Azure 2019
    /// counts, `companions` name the duration and memory files; when not
    /// given, `<stem>_run.csv` / `<stem>_mem.csv` beside a `<stem>_inv.csv`
    /// are used if they exist.
    pub fn load(path: &Path, companions: &Companions) -> Result<Trace, TraceError> {
        let file = path.display().to_string();
        let bytes = read_bounded(path)?;
        let header = first_line(&bytes);
        let fields: Vec<String> = header
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_owned())
            .collect();
        let has = |n: &str| fields.iter().any(|f| f.eq_ignore_ascii_case(n));
        if has("HashFunction") {
            let names = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(companion_names);
            let sibling = |which: fn(&(String, String)) -> &String| -> Option<PathBuf> {
                let p = path.with_file_name(which(names.as_ref()?));
                p.exists().then_some(p)
            };
            let run_path = companions.durations.clone().or_else(|| sibling(|n| &n.0));
            let mem_path = companions.memory.clone().or_else(|| sibling(|n| &n.1));
            let looked = |which: fn(&(String, String)) -> &String, flag: &str| match &names {
                Some(n) => format!("no {} beside the trace, no {flag}", which(n)),
                None => format!("no {flag}"),
            };
            let run_missing = run_path.is_none().then(|| looked(|n| &n.0, "--durations"));
            let mem_missing = mem_path.is_none().then(|| looked(|n| &n.1, "--memory"));
            let read = |p: &PathBuf| read_bounded(p);
            let run = run_path.as_ref().map(read).transpose()?;
            let mem = mem_path.as_ref().map(read).transpose()?;
            let run_name = run_path.map(|p| p.display().to_string());
            let mem_name = mem_path.map(|p| p.display().to_string());
            let mut t = parse_2019(
                &file,
                &bytes,
                run.as_deref().zip(run_name.as_deref()).map(|(b, n)| (n, b)),
                mem.as_deref().zip(mem_name.as_deref()).map(|(b, n)| (n, b)),
            )?;
            // Say why the assumption was needed, next to the assumption.
            for note in &mut t.notes {
                let why = if note.contains("duration") {
                    &run_missing
                } else {
                    &mem_missing
                };
                if let Some(why) = why {
                    note.push_str(&format!(" ({why})"));
                }
            }
            Ok(t)
        } else if has("app") && has("func") && has("end_timestamp") && has("duration") {
            parse_2021(&file, &bytes)
        } else if fields.len() >= 2 && has("timestamp") && has("concurrency") {
            parse_concurrency(&file, &bytes, companions)
        } else {
            Err(TraceError::Layout {
                file,
                message: "expected an Azure 2019 counts header (HashOwner,HashApp,HashFunction,... minute columns), \
                          an Azure 2021 header (app,func,end_timestamp,duration) or timestamp,concurrency"
                    .into(),
            })
        }
    }
}

fn first_line(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end])
        .trim_start_matches('\u{feff}')
        .trim_end_matches('\r')
        .to_owned()
}

/// Makes a Lambda-valid function name from a trace id.
pub fn lambda_name(id: &str) -> String {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        id.to_owned()
    } else {
        format!("fn-{:016x}", fnv1a(id.as_bytes()))
    }
}

/// FNV-1a 64-bit: a stable hash (unlike `DefaultHasher`, fixed across Rust versions).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Calls `f` on every data row of `rdr`, which carries `file` and the line
/// number for error messages; a malformed record is an error at its line.
fn each_row(
    file: &str,
    rdr: &mut csv::Reader<&[u8]>,
    mut f: impl FnMut(&Row<'_>) -> Result<(), TraceError>,
) -> Result<(), TraceError> {
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(csv_error(file, &e)),
        }
        let row = Row {
            file,
            line: rec.position().map_or(0, csv::Position::line),
            rec: &rec,
        };
        f(&row)?;
    }
}

fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(bytes)
}

fn csv_error(file: &str, e: &csv::Error) -> TraceError {
    let line = e.position().map_or(0, csv::Position::line);
    let (column, message) = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => (
            len.min(expected_len) + 1,
            format!("expected {expected_len} fields, found {len}"),
        ),
        csv::ErrorKind::Utf8 { err, .. } => (err.field() as u64 + 1, "invalid UTF-8".to_owned()),
        _ => (1, e.to_string()),
    };
    TraceError::Parse {
        file: file.to_owned(),
        line,
        column,
        message,
    }
}

fn header_of(file: &str, rdr: &mut csv::Reader<&[u8]>) -> Result<Vec<String>, TraceError> {
    let h = rdr.headers().map_err(|e| csv_error(file, &e))?;
    Ok(h.iter()
        .map(|s| s.trim_start_matches('\u{feff}').to_owned())
        .collect())
}

fn column(file: &str, header: &[String], name: &str) -> Result<usize, TraceError> {
    header
        .iter()
        .position(|h| h.eq_ignore_ascii_case(name))
        .ok_or_else(|| TraceError::Parse {
            file: file.to_owned(),
            line: 1,
            column: 1,
            message: format!("missing column {name:?}"),
        })
}

struct Row<'a> {
    file: &'a str,
    line: u64,
    rec: &'a csv::StringRecord,
}

impl Row<'_> {
    fn err(&self, col: usize, message: String) -> TraceError {
        TraceError::Parse {
            file: self.file.to_owned(),
            line: self.line,
            column: col as u64 + 1,
            message,
        }
    }
    fn str(&self, col: usize) -> &str {
        self.rec.get(col).unwrap_or("")
    }
    fn f64(&self, col: usize, what: &str) -> Result<f64, TraceError> {
        let s = self.str(col);
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.err(col, format!("{what}: expected a number, found {s:?}"))),
        }
    }
    fn count(&self, col: usize) -> Result<u32, TraceError> {
        let s = self.str(col);
        if let Ok(v) = s.parse::<u32>() {
            return Ok(v);
        }
        // Some exports write integral counts as "3.0".
        match s.parse::<f64>() {
            Ok(v) if v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) => Ok(v as u32),
            _ => Err(self.err(
                col,
                format!("invocation count: expected a non-negative integer, found {s:?}"),
            )),
        }
    }
}

type Companion<'a> = Option<(&'a str, &'a [u8])>;

fn parse_2019(
    file: &str,
    bytes: &[u8],
    run: Companion<'_>,
    mem: Companion<'_>,
) -> Result<Trace, TraceError> {
    let mut rdr = reader(bytes);
    let header = header_of(file, &mut rdr)?;
    let c_fn = column(file, &header, "HashFunction")?;
    let c_app = column(file, &header, "HashApp")?;
    let c_trigger = header
        .iter()
        .position(|h| h.eq_ignore_ascii_case("Trigger"));
    // Minute columns: every column named `N` or `minute_N`, consecutive.
    let mut minute_cols: Vec<(usize, u32)> = Vec::new();
    for (i, h) in header.iter().enumerate() {
        let digits = h.strip_prefix("minute_").unwrap_or(h);
        if let Ok(m) = digits.parse::<u32>() {
            minute_cols.push((i, m));
        }
    }
    let Some(&(_, first_minute)) = minute_cols.first() else {
        return Err(TraceError::Parse {
            file: file.to_owned(),
            line: 1,
            column: header.len() as u64 + 1,
            message: "no minute columns (named 1..1440 or minute_1..)".into(),
        });
    };
    for (k, &(i, m)) in minute_cols.iter().enumerate() {
        if m != first_minute + k as u32 {
            return Err(TraceError::Parse {
                file: file.to_owned(),
                line: 1,
                column: i as u64 + 1,
                message: format!(
                    "minute columns must be consecutive: expected {}, found {m}",
                    first_minute + k as u32
                ),
            });
        }
    }
    if minute_cols.len() > MAX_TRACE_MINUTES as usize {
        let (i, _) = minute_cols[MAX_TRACE_MINUTES as usize];
        return Err(TraceError::Parse {
            file: file.to_owned(),
            line: 1,
            column: i as u64 + 1,
            message: format!(
                "{} minute columns: a trace may span at most {MAX_TRACE_MINUTES} minutes ({} days)",
                minute_cols.len(),
                MAX_TRACE_MINUTES / 1440
            ),
        });
    }
    let minutes = minute_cols.len() as u32;
    let durations = match run {
        Some((name, b)) => Some(parse_durations(name, b)?),
        None => None,
    };
    let memory = match mem {
        Some((name, b)) => Some(parse_memory(name, b)?),
        None => None,
    };

    let mut functions = Vec::new();
    let mut missing_durations = 0usize;
    let mut missing_memory = 0usize;
    each_row(file, &mut rdr, |row| {
        let id = row.str(c_fn).to_owned();
        if id.is_empty() {
            return Err(row.err(c_fn, "empty HashFunction".into()));
        }
        let app = row.str(c_app).to_owned();
        let mut counts = Vec::with_capacity(minute_cols.len());
        for &(i, _) in &minute_cols {
            let n = row.count(i)?;
            if n > MAX_MINUTE_COUNT {
                return Err(row.err(
                    i,
                    format!("invocation count {n}: at most {MAX_MINUTE_COUNT} a minute"),
                ));
            }
            counts.push(n);
        }
        let dist = durations
            .as_ref()
            .and_then(|d| {
                d.get(&(app.clone(), id.clone()))
                    .or_else(|| d.get(&(String::new(), id.clone())))
            })
            .cloned();
        if dist.is_none() {
            missing_durations += 1;
        }
        let memory_mb = memory.as_ref().and_then(|m| m.get(&app).copied());
        if memory_mb.is_none() {
            missing_memory += 1;
        }
        functions.push(FunctionTrace {
            name: lambda_name(&id),
            id,
            trigger: c_trigger
                .map(|c| row.str(c).to_owned())
                .filter(|s| !s.is_empty()),
            arrivals: Arrivals::PerMinute(counts),
            durations: dist,
            memory_mb,
        });
        Ok(())
    })?;
    let mut notes = Vec::new();
    if missing_durations > 0 {
        notes.push(format!(
            "{missing_durations} function(s) without duration percentiles: 1 s assumed"
        ));
    }
    if missing_memory > 0 {
        notes.push(format!(
            "{missing_memory} function(s) without memory: {} MB assumed",
            super::pricing::DEFAULT_MEMORY_MB
        ));
    }
    Ok(Trace {
        name: file.to_owned(),
        format: TraceFormat::Azure2019,
        start_minute: first_minute.saturating_sub(1),
        minutes,
        functions,
        notes,
    })
}

/// `(HashApp, HashFunction)` -> distribution; also keyed by `("", HashFunction)`.
fn parse_durations(
    file: &str,
    bytes: &[u8],
) -> Result<HashMap<(String, String), DurationDist>, TraceError> {
    let mut rdr = reader(bytes);
    let header = header_of(file, &mut rdr)?;
    let c_fn = column(file, &header, "HashFunction")?;
    let c_app = column(file, &header, "HashApp")?;
    let names = [
        "percentile_Average_0",
        "percentile_Average_1",
        "percentile_Average_25",
        "percentile_Average_50",
        "percentile_Average_75",
        "percentile_Average_99",
        "percentile_Average_100",
    ];
    let mut cols = [0usize; 7];
    for (k, n) in names.iter().enumerate() {
        cols[k] = column(file, &header, n)?;
    }
    let mut out = HashMap::new();
    each_row(file, &mut rdr, |row| {
        let mut ms = [0.0; 7];
        for (k, &c) in cols.iter().enumerate() {
            let v = row.f64(c, names[k])?;
            if v < 0.0 {
                return Err(row.err(c, format!("{}: negative duration {v}", names[k])));
            }
            ms[k] = v;
        }
        let dist = DurationDist::from_percentiles_ms(ms);
        let f = row.str(c_fn).to_owned();
        out.insert((String::new(), f.clone()), dist.clone());
        out.insert((row.str(c_app).to_owned(), f), dist);
        Ok(())
    })?;
    Ok(out)
}

/// `HashApp` -> `AverageAllocatedMb`.
fn parse_memory(file: &str, bytes: &[u8]) -> Result<HashMap<String, f64>, TraceError> {
    let mut rdr = reader(bytes);
    let header = header_of(file, &mut rdr)?;
    let c_app = column(file, &header, "HashApp")?;
    let c_mb = column(file, &header, "AverageAllocatedMb")?;
    let mut out = HashMap::new();
    each_row(file, &mut rdr, |row| {
        let mb = row.f64(c_mb, "AverageAllocatedMb")?;
        if mb < 0.0 {
            return Err(row.err(c_mb, format!("AverageAllocatedMb: negative memory {mb}")));
        }
        out.insert(row.str(c_app).to_owned(), mb);
        Ok(())
    })?;
    Ok(out)
}

fn parse_2021(file: &str, bytes: &[u8]) -> Result<Trace, TraceError> {
    let mut rdr = reader(bytes);
    let header = header_of(file, &mut rdr)?;
    let c_app = column(file, &header, "app")?;
    let c_func = column(file, &header, "func")?;
    let c_end = column(file, &header, "end_timestamp")?;
    let c_dur = column(file, &header, "duration")?;
    let mut by_fn: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut end_max = 0.0_f64;
    let mut invocations = 0usize;
    each_row(file, &mut rdr, |row| {
        let end = row.f64(c_end, "end_timestamp")?;
        let dur = row.f64(c_dur, "duration")?;
        if dur < 0.0 {
            return Err(row.err(c_dur, format!("duration: negative value {dur}")));
        }
        let start = end - dur;
        if start < 0.0 {
            return Err(row.err(
                c_end,
                format!("end_timestamp {end} minus duration {dur} is before the trace start"),
            ));
        }
        if end > f64::from(MAX_TRACE_MINUTES) * 60.0 {
            return Err(row.err(
                c_end,
                format!(
                    "end_timestamp {end}: the trace may span at most {} days",
                    MAX_TRACE_MINUTES / 1440
                ),
            ));
        }
        if invocations >= MAX_TRACE_INVOCATIONS {
            return Err(row.err(
                c_end,
                format!("more than {MAX_TRACE_INVOCATIONS} invocations; split the trace"),
            ));
        }
        invocations += 1;
        end_max = end_max.max(end);
        let id = format!("{}:{}", row.str(c_app), row.str(c_func));
        let k = *index.entry(id.clone()).or_insert_with(|| {
            by_fn.push((id, Vec::new()));
            by_fn.len() - 1
        });
        by_fn[k].1.push((start, dur.min(LAMBDA_TIMEOUT_SECS)));
        Ok(())
    })?;
    let functions = by_fn
        .into_iter()
        .map(|(id, mut inv)| {
            inv.sort_by(|a, b| a.0.total_cmp(&b.0));
            FunctionTrace {
                name: lambda_name(&id),
                id,
                trigger: None,
                arrivals: Arrivals::Exact(inv),
                durations: None,
                memory_mb: None,
            }
        })
        .collect();
    Ok(Trace {
        name: file.to_owned(),
        format: TraceFormat::Azure2021,
        start_minute: 0,
        minutes: ((end_max / 60.0).ceil() as u32).max(1),
        functions,
        notes: vec![format!(
            "Azure 2021 has no memory sizes: {} MB assumed",
            super::pricing::DEFAULT_MEMORY_MB
        )],
    })
}

/// Epoch seconds of a timestamp cell; `None` when it is none, or not a
/// finite time between 1970 and 9999 ("NaN", "inf", "-5", "1e300").
fn parse_timestamp(s: &str) -> Option<f64> {
    const YEAR_9999: f64 = 253_402_300_799.0;
    if let Ok(v) = s.parse::<f64>() {
        // Epoch milliseconds when implausibly large for seconds.
        let secs = if v > 1e11 { v / 1000.0 } else { v };
        return (secs.is_finite() && (0.0..=YEAR_9999).contains(&secs)).then_some(secs);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis() as f64 / 1000.0);
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_millis() as f64 / 1000.0);
        }
    }
    None
}

fn parse_concurrency(file: &str, bytes: &[u8], opts: &Companions) -> Result<Trace, TraceError> {
    let mut rdr = reader(bytes);
    let header = header_of(file, &mut rdr)?;
    let c_ts = column(file, &header, "timestamp")?;
    let c_c = column(file, &header, "concurrency")?;
    let mut rows: Vec<(f64, u32)> = Vec::new();
    let mut units = 0usize;
    each_row(file, &mut rdr, |row| {
        let ts = parse_timestamp(row.str(c_ts)).ok_or_else(|| {
            row.err(
                c_ts,
                format!(
                    "timestamp: expected RFC 3339, 'YYYY-MM-DD HH:MM:SS' or epoch seconds \
                     (1970 to 9999), found {:?}",
                    row.str(c_ts)
                ),
            )
        })?;
        if let Some(&(first, _)) = rows.first()
            && ts - first > f64::from(MAX_TRACE_MINUTES) * 60.0
        {
            return Err(row.err(
                c_ts,
                format!(
                    "timestamp {:?} is more than {} days after the first row: a trace may span \
                     at most that",
                    row.str(c_ts),
                    MAX_TRACE_MINUTES / 1440
                ),
            ));
        }
        // CloudWatch exports may carry fractional statistics: round up, a
        // fraction of an environment is still an environment.
        let v = row.f64(c_c, "concurrency")?;
        if v < 0.0 {
            return Err(row.err(c_c, format!("concurrency: negative value {v}")));
        }
        if v > MAX_ROW_CONCURRENCY {
            return Err(row.err(
                c_c,
                format!("concurrency: {v} is above the {MAX_ROW_CONCURRENCY} a row may carry"),
            ));
        }
        units = units.saturating_add(v.ceil() as usize);
        if units > MAX_TRACE_INVOCATIONS {
            return Err(row.err(
                c_c,
                format!("the series adds up to more than {MAX_TRACE_INVOCATIONS} invocations; split the trace"),
            ));
        }
        // Either time order (CloudWatch exports newest first), but one.
        if let Some(&(prev, _)) = rows.last() {
            let newest_first = rows.len() >= 2 && rows[0].0 > rows[1].0;
            let ok = if rows.len() == 1 {
                ts != prev
            } else if newest_first {
                ts < prev
            } else {
                ts > prev
            };
            if !ok {
                return Err(row.err(
                    c_ts,
                    "timestamps must be strictly increasing or strictly decreasing".into(),
                ));
            }
        }
        rows.push((ts, v.ceil() as u32));
        Ok(())
    })?;
    if rows.len() >= 2 && rows[0].0 > rows[1].0 {
        rows.reverse();
    }
    let Some(&(t0, _)) = rows.first() else {
        return Err(TraceError::Parse {
            file: file.to_owned(),
            line: 2,
            column: 1,
            message: "no rows".into(),
        });
    };
    let step = if rows.len() >= 2 {
        rows[1].0 - rows[0].0
    } else {
        60.0
    };
    let mut inv = Vec::new();
    let mut notes = Vec::new();
    for (i, &(t, c)) in rows.iter().enumerate() {
        let next = rows.get(i + 1).map_or(t + step, |r| r.0);
        let span = next - t;
        // Back-to-back invocations of `each` seconds fill the row's span.
        let each = opts
            .duration_secs
            .unwrap_or(span)
            .min(span)
            .min(LAMBDA_TIMEOUT_SECS);
        let per_unit = (span / each - 1e-9).ceil().max(1.0);
        let total = inv.len() as f64 + per_unit * f64::from(c);
        if total > MAX_TRACE_INVOCATIONS as f64 {
            return Err(TraceError::Parse {
                file: file.to_owned(),
                line: i as u64 + 2,
                column: c_c as u64 + 1,
                message: format!(
                    "the trace would replay more than {MAX_TRACE_INVOCATIONS} invocations: use a longer --duration"
                ),
            });
        }
        for k in 0..per_unit as u32 {
            let start = f64::from(k) * each;
            let dur = each.min(span - start);
            for _ in 0..c {
                inv.push((t - t0 + start, dur));
            }
        }
    }
    match opts.duration_secs {
        Some(d) => notes.push(format!(
            "concurrency series: each unit of concurrency is replayed as back-to-back {d} s invocations"
        )),
        None => notes.push(
            "concurrency series: each unit of concurrency is replayed as one invocation lasting until the next row (--duration to change)"
                .into(),
        ),
    }
    let memory_mb = opts.memory_mb;
    if memory_mb.is_none() {
        notes.push(format!(
            "concurrency series: {} MB assumed (--memory-mb to change)",
            super::pricing::DEFAULT_MEMORY_MB
        ));
    }
    let end = rows.last().map_or(t0, |r| r.0) + step - t0;
    let start_minute =
        DateTime::<Utc>::from_timestamp(t0 as i64, 0).map_or(0, |d| d.hour() * 60 + d.minute());
    Ok(Trace {
        name: file.to_owned(),
        format: TraceFormat::Concurrency,
        start_minute,
        minutes: ((end / 60.0).ceil() as u32).max(1),
        functions: vec![FunctionTrace {
            id: "function".into(),
            name: "function".into(),
            trigger: None,
            arrivals: Arrivals::Exact(inv),
            durations: None,
            memory_mb,
        }],
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_between_published_percentiles() {
        let d =
            DurationDist::from_percentiles_ms([100.0, 100.0, 200.0, 300.0, 400.0, 1000.0, 2000.0]);
        assert!((d.quantile(0.5) - 0.3).abs() < 1e-12);
        assert!((d.quantile(0.375) - 0.25).abs() < 1e-12);
        assert!((d.quantile(1.0) - 2.0).abs() < 1e-12);
        assert!((d.quantile(0.0) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn quantile_is_capped_at_the_lambda_timeout() {
        let d = DurationDist::from_percentiles_ms([1e6; 7]);
        assert_eq!(d.quantile(0.7), LAMBDA_TIMEOUT_SECS);
    }

    #[test]
    fn lambda_name_keeps_valid_ids_and_hashes_others() {
        assert_eq!(lambda_name("abc_1-2"), "abc_1-2");
        let n = lambda_name("app:func");
        assert!(n.starts_with("fn-") && n.len() == 19);
    }

    #[test]
    fn minute_columns_may_start_anywhere() {
        let csv = b"HashOwner,HashApp,HashFunction,Trigger,480,481,482\no,a,f,http,1,0,2\n";
        let t = parse_2019("x.csv", csv, None, None).expect("parses");
        assert_eq!(t.start_minute, 479);
        assert_eq!(t.minutes, 3);
        assert_eq!(t.functions[0].arrivals, Arrivals::PerMinute(vec![1, 0, 2]));
        assert_eq!(t.functions[0].trigger.as_deref(), Some("http"));
    }

    #[test]
    fn multi_day_minute_columns_replay_and_a_longer_span_than_the_bound_is_refused() {
        // Two weeks of minutes, as traces/multiday's files have.
        let minutes = 14 * 1440 + 7;
        let header: Vec<String> = (1..=minutes).map(|m| m.to_string()).collect();
        let row: Vec<String> = (0..minutes).map(|m| (m % 3).to_string()).collect();
        let csv = format!(
            "HashOwner,HashApp,HashFunction,Trigger,{}\no,a,f,http,{}\n",
            header.join(","),
            row.join(",")
        );
        let t = parse_2019("long.csv", csv.as_bytes(), None, None).expect("parses");
        assert_eq!(t.minutes, minutes);
        assert_eq!(t.functions[0].invocation_count(), u64::from(minutes - 1));
        let too_long = MAX_TRACE_MINUTES as usize + 1;
        let header: Vec<String> = (1..=too_long).map(|m| m.to_string()).collect();
        let csv = format!("HashFunction,HashOwner,HashApp,{}\n", header.join(","));
        let e = parse_2019("huge.csv", csv.as_bytes(), None, None).expect_err("refused");
        assert!(
            e.to_string()
                .starts_with(&format!("huge.csv:1:{}:", too_long + 3)),
            "{e}"
        );
    }

    #[test]
    fn a_count_beyond_any_account_is_refused_at_its_cell() {
        let csv = b"HashFunction,HashOwner,HashApp,1,2\nf,o,a,1,100000001\n";
        let e = parse_2019("x.csv", csv, None, None).expect_err("refused");
        assert!(e.to_string().starts_with("x.csv:2:5:"), "{e}");
    }

    #[test]
    fn bad_count_names_file_line_and_column() {
        let csv = b"HashFunction,HashOwner,HashApp,minute_1,minute_2\nf,o,a,1,2\ng,o,a,3,x\n";
        let e = parse_2019("x.csv", csv, None, None).expect_err("must fail");
        let msg = e.to_string();
        assert!(msg.starts_with("x.csv:3:5:"), "{msg}");
    }

    #[test]
    fn gap_in_minute_columns_is_refused_at_the_header() {
        let csv = b"HashFunction,HashOwner,HashApp,1,2,4\nf,o,a,1,2,3\n";
        let e = parse_2019("x.csv", csv, None, None).expect_err("must fail");
        assert!(e.to_string().starts_with("x.csv:1:6:"), "{e}");
    }

    #[test]
    fn short_row_is_an_error_not_a_panic() {
        let csv = b"HashFunction,HashOwner,HashApp,1,2\nf,o,a,1\n";
        let e = parse_2019("x.csv", csv, None, None).expect_err("must fail");
        assert!(e.to_string().starts_with("x.csv:2:"), "{e}");
    }

    #[test]
    fn azure_2021_start_is_end_minus_duration() {
        let csv = b"app,func,end_timestamp,duration\na,f,10.5,0.5\na,f,3.0,1.0\nb,f,61,1\n";
        let t = parse_2021("y.csv", csv).expect("parses");
        assert_eq!(t.functions.len(), 2);
        assert_eq!(
            t.functions[0].arrivals,
            Arrivals::Exact(vec![(2.0, 1.0), (10.0, 0.5)])
        );
        assert_eq!(t.minutes, 2);
    }

    #[test]
    fn concurrency_rows_become_invocations_until_the_next_row() {
        let csv = b"timestamp,concurrency\n2024-01-01T10:00:00Z,2\n2024-01-01T10:01:00Z,1\n";
        let t = parse_concurrency("z.csv", csv, &Companions::default()).expect("parses");
        assert_eq!(t.start_minute, 600);
        assert_eq!(
            t.functions[0].arrivals,
            Arrivals::Exact(vec![(0.0, 60.0), (0.0, 60.0), (60.0, 60.0)])
        );
    }

    #[test]
    fn newest_first_rows_are_replayed_oldest_first() {
        // CloudWatch's default order: newest first.
        let csv = b"timestamp,concurrency\n2024-01-01T10:01:00Z,1\n2024-01-01T10:00:00Z,2\n";
        let t = parse_concurrency("z.csv", csv, &Companions::default()).expect("parses");
        assert_eq!(t.start_minute, 600);
        assert_eq!(
            t.functions[0].arrivals,
            Arrivals::Exact(vec![(0.0, 60.0), (0.0, 60.0), (60.0, 60.0)])
        );
    }

    #[test]
    fn hostile_concurrency_series_get_a_file_and_line_error_not_a_hang() {
        for (text, line, needle) in [
            ("timestamp,concurrency\n0,1\nNaN,2\n", 3, "timestamp"),
            ("timestamp,concurrency\n0,1\ninf,2\n", 3, "timestamp"),
            ("timestamp,concurrency\nNaN,1\n0,2\n", 2, "timestamp"),
            ("timestamp,concurrency\n0,1\n60,1e9\n", 3, "concurrency"),
            ("timestamp,concurrency\n0,1\n94672800000,1\n", 3, "days"),
        ] {
            let e = parse_concurrency("c.csv", text.as_bytes(), &Companions::default())
                .expect_err(text);
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("c.csv:{line}:")),
                "{text:?}: {msg}"
            );
            assert!(msg.contains(needle), "{text:?}: {msg}");
        }
    }

    #[test]
    fn an_endless_file_is_refused_at_the_bound() {
        let e = Trace::load(Path::new("/dev/zero"), &Companions::default()).expect_err("bounded");
        assert!(
            e.to_string().starts_with("/dev/zero:1:1: larger than"),
            "{e}"
        );
    }

    #[test]
    fn timestamps_in_no_single_order_are_refused() {
        let csv = b"timestamp,concurrency\n60,2\n120,1\n90,1\n";
        let e = parse_concurrency("z.csv", csv, &Companions::default()).expect_err("must fail");
        assert!(e.to_string().starts_with("z.csv:4:1:"), "{e}");
        let csv = b"timestamp,concurrency\n60,2\n60,1\n";
        let e = parse_concurrency("z.csv", csv, &Companions::default()).expect_err("must fail");
        assert!(e.to_string().starts_with("z.csv:3:1:"), "{e}");
    }

    #[test]
    fn duration_and_memory_flags_shape_a_concurrency_series() {
        let csv = b"timestamp,concurrency\n0,2\n60,0\n";
        let opts = Companions {
            memory_mb: Some(512.0),
            duration_secs: Some(25.0),
            ..Companions::default()
        };
        let t = parse_concurrency("z.csv", csv, &opts).expect("parses");
        let f = &t.functions[0];
        assert_eq!(f.memory_mb, Some(512.0));
        // 60 s of each unit: 25 + 25 + 10 s, back to back, two units.
        assert_eq!(
            f.arrivals,
            Arrivals::Exact(vec![
                (0.0, 25.0),
                (0.0, 25.0),
                (25.0, 25.0),
                (25.0, 25.0),
                (50.0, 10.0),
                (50.0, 10.0)
            ])
        );
        assert!(
            t.notes.iter().all(|n| !n.contains("MB assumed")),
            "{:?}",
            t.notes
        );
        let t = parse_concurrency("z.csv", csv, &Companions::default()).expect("parses");
        assert!(
            t.notes.iter().any(|n| n.contains("1024 MB assumed")),
            "{:?}",
            t.notes
        );
    }

    #[test]
    fn a_tiny_duration_cannot_blow_up_memory() {
        let csv = b"timestamp,concurrency\n0,100000\n86400,0\n";
        let opts = Companions {
            duration_secs: Some(0.001),
            ..Companions::default()
        };
        let e = parse_concurrency("z.csv", csv, &opts).expect_err("refused");
        assert!(e.to_string().contains("--duration"), "{e}");
    }

    #[test]
    fn upstream_azure_2019_names_have_their_companions() {
        assert_eq!(
            companion_names("invocations_per_function_md.anon.d01.csv"),
            Some((
                "function_durations_percentiles.anon.d01.csv".to_owned(),
                "app_memory_percentiles.anon.d01.csv".to_owned()
            ))
        );
        assert_eq!(
            companion_names("1350_inv.csv"),
            Some(("1350_run.csv".to_owned(), "1350_mem.csv".to_owned()))
        );
        assert_eq!(companion_names("other.csv"), None);
    }
}
