//! A fault-injecting HTTP/1.1 proxy between the code under test and the
//! emulators, on 127.0.0.1 only.
//!
//! The code under test is pointed at [`FaultProxy::url`] exactly as it would
//! be pointed at AWS (`AWS_ENDPOINT_URL_*`, or an explicit endpoint on a
//! client built from pcscale's own SDK configuration), so retries, timeouts,
//! error classification and the tick's reaction are the production ones.
//! DynamoDB requests (`X-Amz-Target: DynamoDB_20120810.*`) go to moto,
//! everything else (CloudWatch's RPC v2 CBOR, Lambda's REST JSON) to
//! LocalStack.
//!
//! Every request is logged ([`Exchange`]) with its service, operation and
//! function, so tests count attempts on the wire (retries included) and the
//! gaps between them (backoff). [`Rule`]s pick requests by operation and a
//! substring of the path and body, and apply a [`Fault`]: an error in the
//! service's own protocol (so the SDK classifies it as AWS would make it
//! classify it), a malformed body, a hang, a dropped connection, a delay, a
//! barrier that holds requests until N of them have arrived, a rewrite of
//! the JSON answer, or any of these *after* forwarding the request (the
//! emulator applied it; the client cannot know).
//!
//! Every `GetMetricData` answer, forwarded or faulted, passes through the
//! proxy's [`Publication`]: datapoints CloudWatch would not have published
//! yet at the test's `now` are removed (see [`super::publication`]).
//!
//! The proxy is as strict as AWS and meters what AWS would bill
//! ([`super::metering`]): Lambda control-plane requests above the account's
//! 15 per second are answered 429 `TooManyRequestsException`, and every
//! DynamoDB read is charged the read units AWS would charge
//! ([`FaultProxy::read_units`]), a filtered Scan for every item it read.
//!
//! Bounded: one request per connection (answers carry `Connection: close`),
//! heads up to 64 KiB, bodies up to 32 MiB; the accept loop stops when the
//! proxy is dropped.
#![allow(dead_code)] // each test binary uses a different subset

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::Emulators;
use super::metering::{self, Quota};
use super::publication::Publication;

const MAX_HEAD: usize = 64 * 1024;
/// The fault label of a request refused by Lambda's control-plane quota.
pub const QUOTA_LABEL: &str = "quota: 429 TooManyRequestsException";
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Which AWS service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// awsJson1_0, `X-Amz-Target: DynamoDB_20120810.<Operation>`.
    DynamoDb,
    /// Smithy RPC v2 CBOR, `/service/GraniteServiceVersion20100801/operation/<Operation>`.
    CloudWatch,
    /// REST JSON, `/<date>/functions/<name>/...`.
    Lambda,
}

/// One request seen by the proxy and what it answered.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// When the request arrived, since the proxy started.
    pub at: Duration,
    /// The service.
    pub service: Service,
    /// The AWS operation name, e.g. `PutProvisionedConcurrencyConfig`.
    pub operation: String,
    /// The Lambda function named in the path, if any.
    pub function: Option<String>,
    /// The label of the fault applied, `None` when forwarded untouched.
    pub fault: Option<String>,
    /// The status sent back, `None` when nothing was (hang, drop).
    pub status: Option<u16>,
    /// Path, query and body (lossy UTF-8), for assertions.
    pub text: String,
    /// DynamoDB read units AWS would charge for it (reads only).
    pub read_units: Option<f64>,
}

/// What to do to a matching request.
#[derive(Clone)]
pub enum Fault {
    /// Answer with this error in the service's protocol, without forwarding.
    Error {
        /// HTTP status.
        status: u16,
        /// The error code (`__type` / `x-amzn-ErrorType`).
        code: String,
        /// The message.
        message: String,
    },
    /// Answer `status` with an HTML body no AWS SDK can parse (a load
    /// balancer's error page), without forwarding.
    Malformed {
        /// HTTP status.
        status: u16,
    },
    /// Forward, then answer with the real status and headers but only the
    /// first half of the body (a connection cut mid-answer).
    Truncated,
    /// Read the request, then answer nothing for this long and close.
    Hang(Duration),
    /// Close the connection without answering.
    Drop,
    /// Forward (the emulator applies the request), then answer with the
    /// inner fault instead of the emulator's answer.
    ForwardThen(Box<Fault>),
    /// Forward after this delay.
    Delay(Duration),
    /// Hold the request until `parties` requests matched by this rule have
    /// arrived (or `timeout` passed), then forward it.
    Barrier {
        /// How many requests to wait for.
        parties: usize,
        /// How long to wait at most.
        timeout: Duration,
    },
    /// Forward, then rewrite the JSON body of a 2xx answer.
    Rewrite(Arc<dyn Fn(&mut Value) + Send + Sync>),
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl Fault {
    /// A throttling error as each service sends it: Lambda 429
    /// `TooManyRequestsException`, CloudWatch 400 `ThrottlingException`,
    /// DynamoDB 400 `ProvisionedThroughputExceededException`.
    pub fn throttling(service: Service) -> Fault {
        let (status, code) = match service {
            Service::Lambda => (429, "TooManyRequestsException"),
            Service::CloudWatch => (400, "ThrottlingException"),
            Service::DynamoDb => (400, "ProvisionedThroughputExceededException"),
        };
        Fault::Error {
            status,
            code: code.into(),
            message: "Rate exceeded (injected)".into(),
        }
    }

    /// A 5xx as each service sends it.
    pub fn server_error(service: Service) -> Fault {
        let (status, code) = match service {
            Service::Lambda => (500, "ServiceException"),
            Service::CloudWatch => (500, "InternalServiceFault"),
            Service::DynamoDb => (500, "InternalServerError"),
        };
        Fault::Error {
            status,
            code: code.into(),
            message: "internal error (injected)".into(),
        }
    }

    /// A short label for logs and assertions.
    pub fn label(&self) -> String {
        match self {
            Fault::Error { status, code, .. } => format!("{status} {code}"),
            Fault::Malformed { status } => format!("{status} malformed"),
            Fault::Truncated => "truncated".into(),
            Fault::Hang(d) => format!("hang {d:?}"),
            Fault::Drop => "drop".into(),
            Fault::ForwardThen(inner) => format!("forwarded, then {}", inner.label()),
            Fault::Delay(d) => format!("delay {d:?}"),
            Fault::Barrier { parties, .. } => format!("barrier {parties}"),
            Fault::Rewrite(_) => "rewrite".into(),
        }
    }
}

/// Which requests a fault applies to.
#[derive(Debug, Clone)]
pub struct Rule {
    operation: String,
    contains: Vec<String>,
    excludes: Vec<String>,
    skip: usize,
    times: Option<usize>,
    fault: Fault,
    matched: usize,
    arrivals: Option<watch::Sender<usize>>,
}

impl Rule {
    /// Every request of `operation` (e.g. `PutItem`), every time.
    pub fn on(operation: &str, fault: Fault) -> Rule {
        Rule {
            operation: operation.to_owned(),
            contains: Vec::new(),
            excludes: Vec::new(),
            skip: 0,
            times: None,
            fault,
            matched: 0,
            arrivals: None,
        }
    }

    /// Only requests whose path or body contains `text`.
    pub fn containing(mut self, text: &str) -> Rule {
        self.contains.push(text.to_owned());
        self
    }

    /// Only requests whose path and body do not contain `text`.
    pub fn excluding(mut self, text: &str) -> Rule {
        self.excludes.push(text.to_owned());
        self
    }

    /// Let the first `n` matching requests through untouched.
    pub fn after(mut self, n: usize) -> Rule {
        self.skip = n;
        self
    }

    /// Apply the fault to `n` matching requests (after the skipped ones), then stop.
    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }

    fn matches(&self, operation: &str, text: &str) -> bool {
        self.operation == operation
            && self.contains.iter().all(|c| text.contains(c.as_str()))
            && !self.excludes.iter().any(|c| text.contains(c.as_str()))
    }
}

struct Shared {
    dynamodb: String,
    localstack: String,
    started: Instant,
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Exchange>>,
    publication: Publication,
    quota: Quota,
    /// Reads whose units are still being measured.
    metering: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The proxy; stops accepting when dropped.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`: the endpoint to give the code under test.
    pub url: String,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy in front of `emulators` on a free port of 127.0.0.1,
    /// on the current Tokio runtime.
    pub async fn start(emulators: &Emulators) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fault proxy: cannot bind 127.0.0.1");
        let addr = listener.local_addr().expect("fault proxy: local address");
        let shared = Arc::new(Shared {
            dynamodb: host_port(&emulators.moto_url),
            localstack: host_port(&emulators.localstack_url),
            started: Instant::now(),
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            publication: Publication::default(),
            quota: Quota::default(),
            metering: AtomicUsize::new(0),
        });
        let s = Arc::clone(&shared);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let s = Arc::clone(&s);
                tokio::spawn(async move {
                    // A client that went away mid-exchange is not a test failure:
                    // the client's side of the story is what the test asserts.
                    let _ = serve(s, conn).await;
                });
            }
        });
        FaultProxy {
            url: format!("http://{addr}"),
            shared,
            accept,
        }
    }

    /// The publication delay and clock of the metrics this proxy answers.
    pub fn publication(&self) -> Publication {
        self.shared.publication.clone()
    }

    /// Adds a rule; rules are tried in the order added, the first match wins.
    pub fn inject(&self, mut rule: Rule) {
        if matches!(rule.fault, Fault::Barrier { .. }) {
            rule.arrivals = Some(watch::channel(0).0);
        }
        lock(&self.shared.rules).push(rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        lock(&self.shared.rules).clear();
    }

    /// Every exchange so far, in arrival order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.shared.log).clone()
    }

    /// Forgets the exchanges seen so far.
    pub fn reset_log(&self) {
        lock(&self.shared.log).clear();
    }

    /// Requests of `operation` (any function).
    pub fn count(&self, operation: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.operation == operation)
            .count()
    }

    /// Requests of `operation` whose path or body mentions `text`.
    pub fn count_with(&self, operation: &str, text: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.operation == operation && e.text.contains(text))
            .count()
    }

    /// Requests of any operation whose path or body mentions `text`.
    pub fn count_mentioning(&self, text: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.text.contains(text))
            .count()
    }

    /// Requests to `service` whose path or body mentions `text`.
    pub fn count_to(&self, service: Service, text: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.service == service && e.text.contains(text))
            .count()
    }

    /// Lambda control-plane requests that reached the proxy (every Lambda
    /// API but invocation; those refused by the quota included).
    pub fn control_plane_requests(&self) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.service == Service::Lambda && metering::is_control_plane(&e.operation))
            .count()
    }

    /// Lambda requests refused by the account's control-plane quota.
    pub fn quota_refused(&self) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.fault.as_deref() == Some(QUOTA_LABEL))
            .count()
    }

    /// DynamoDB read units AWS would have charged for the reads so far,
    /// once every read's measurement is done (blocks this thread, at most
    /// 60 s: call it from a blocking context, after the reads' clients have
    /// their answers).
    pub fn read_units(&self) -> f64 {
        let until = Instant::now() + Duration::from_secs(60);
        while self.shared.metering.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        lock(&self.shared.log)
            .iter()
            .filter_map(|e| e.read_units)
            .sum()
    }

    /// Arrival times of the requests of `operation` that mention `text`.
    pub fn arrivals(&self, operation: &str, text: &str) -> Vec<Duration> {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.operation == operation && e.text.contains(text))
            .map(|e| e.at)
            .collect()
    }
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// A parsed HTTP/1.1 message head plus body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one message: the head, then a `Content-Length` or chunked body,
/// or (for answers read with `until_eof`) everything up to the close.
async fn read_message(
    r: &mut TcpStream,
    until_eof: bool,
    answer_continue: bool,
) -> std::io::Result<Message> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(bad("head too large"));
        }
        let mut chunk = [0u8; 4096];
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("closed before the head ended"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let msg = Message {
        start,
        headers,
        body: Vec::new(),
    };
    if answer_continue
        && msg
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        r.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    let chunked = msg
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = msg
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    let body = if chunked {
        loop {
            if let Some(body) = dechunk(&rest)? {
                break body;
            }
            read_more(r, &mut rest).await?;
        }
    } else if let Some(len) = length {
        if len > MAX_BODY {
            return Err(bad("body too large"));
        }
        while rest.len() < len {
            read_more(r, &mut rest).await?;
        }
        rest.truncate(len);
        rest
    } else if until_eof {
        loop {
            let mut chunk = [0u8; 8192];
            let n = r.read(&mut chunk).await?;
            if n == 0 {
                break rest;
            }
            rest.extend_from_slice(&chunk[..n]);
            if rest.len() > MAX_BODY {
                return Err(bad("body too large"));
            }
        }
    } else {
        Vec::new()
    };
    Ok(Message { body, ..msg })
}

async fn read_more(r: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 8192];
    let n = r.read(&mut chunk).await?;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed mid-body",
        ));
    }
    buf.extend_from_slice(&chunk[..n]);
    if buf.len() > MAX_BODY {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "body too large",
        ));
    }
    Ok(())
}

/// The decoded body once `raw` holds a complete chunked body, else `None`.
fn dechunk(raw: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let Some(eol) = raw[i..].windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = String::from_utf8_lossy(&raw[i..i + eol]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size"))?;
        i += eol + 2;
        if size == 0 {
            return Ok(Some(out));
        }
        if raw.len() < i + size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&raw[i..i + size]);
        i += size + 2;
    }
}

/// Service, operation and function of a request.
fn classify(req: &Message) -> (Service, String, Option<String>) {
    if let Some(target) = req.header("x-amz-target") {
        let op = target.rsplit('.').next().unwrap_or(target).to_owned();
        return (Service::DynamoDb, op, None);
    }
    let mut parts = req.start.split(' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let path = target.split('?').next().unwrap_or_default();
    if let Some(op) = path.strip_prefix("/service/GraniteServiceVersion20100801/operation/") {
        return (Service::CloudWatch, op.to_owned(), None);
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let function = segs
        .iter()
        .position(|s| *s == "functions")
        .and_then(|i| segs.get(i + 1))
        .map(|s| (*s).to_owned());
    let op = match (method, segs.as_slice()) {
        ("GET", [_, "functions", _, "provisioned-concurrency"]) => {
            "GetProvisionedConcurrencyConfig".to_owned()
        }
        ("PUT", [_, "functions", _, "provisioned-concurrency"]) => {
            "PutProvisionedConcurrencyConfig".to_owned()
        }
        ("DELETE", [_, "functions", _, "provisioned-concurrency"]) => {
            "DeleteProvisionedConcurrencyConfig".to_owned()
        }
        ("GET", [_, "functions", _, "concurrency"]) => "GetFunctionConcurrency".to_owned(),
        ("PUT", [_, "functions", _, "concurrency"]) => "PutFunctionConcurrency".to_owned(),
        ("GET", [_, "account-settings"]) => "GetAccountSettings".to_owned(),
        _ => format!("{method} {path}"),
    };
    (Service::Lambda, op, function)
}

/// The first rule matching, with the fault to apply (if this request is in
/// the rule's window) and the barrier channel for barrier rules.
fn pick(shared: &Shared, op: &str, text: &str) -> Option<(Fault, Option<watch::Sender<usize>>)> {
    let mut rules = lock(&shared.rules);
    for rule in rules.iter_mut() {
        if !rule.matches(op, text) {
            continue;
        }
        rule.matched += 1;
        let n = rule.matched;
        if n <= rule.skip || rule.times.is_some_and(|t| n > rule.skip + t) {
            // Outside this rule's window: a later rule may still apply.
            continue;
        }
        return Some((rule.fault.clone(), rule.arrivals.clone()));
    }
    None
}

async fn serve(shared: Arc<Shared>, mut conn: TcpStream) -> std::io::Result<()> {
    let req = read_message(&mut conn, false, true).await?;
    let at = shared.started.elapsed();
    let (service, operation, function) = classify(&req);
    let target = req.start.split(' ').nth(1).unwrap_or_default();
    let text = format!("{target} {}", String::from_utf8_lossy(&req.body));
    // Lambda's control-plane quota comes before any test rule: AWS refuses
    // such a request before anything else happens to it.
    let over_quota = service == Service::Lambda
        && metering::is_control_plane(&operation)
        && !shared
            .quota
            .admit(&metering::access_key(req.header("authorization")));
    let picked = if over_quota {
        Some((
            Fault::Error {
                status: 429,
                code: "TooManyRequestsException".into(),
                message: "Rate exceeded".into(),
            },
            None,
        ))
    } else {
        pick(&shared, &operation, &text)
    };
    let fault_label = if over_quota {
        Some(QUOTA_LABEL.to_owned())
    } else {
        picked.as_ref().map(|(f, _)| f.label())
    };
    let index = {
        let mut log = lock(&shared.log);
        log.push(Exchange {
            at,
            service,
            operation: operation.clone(),
            function,
            fault: fault_label,
            status: None,
            text,
            read_units: None,
        });
        log.len() - 1
    };
    let mut answer = match picked {
        None => Some(forward(&shared, service, &req).await?),
        Some((fault, arrivals)) => apply(&shared, service, &req, fault, arrivals).await?,
    };
    if let Some(ans) = &mut answer
        && service == Service::CloudWatch
        && operation == "GetMetricData"
        && status_of(ans).is_some_and(|s| (200..300).contains(&s))
        && let Some(body) = shared.publication.hide_unpublished(&ans.body)
    {
        ans.body = body;
    }
    let metered = answer.as_ref().is_some_and(|ans| {
        service == Service::DynamoDb && status_of(ans).is_some_and(|s| (200..300).contains(&s))
    });
    let answer_body = if metered {
        shared.metering.fetch_add(1, Ordering::SeqCst);
        answer.as_ref().map(|a| a.body.clone()).unwrap_or_default()
    } else {
        Vec::new()
    };
    if let Some(ans) = answer {
        if let Some(e) = lock(&shared.log).get_mut(index) {
            e.status = status_of(&ans);
        }
        let sent = async {
            conn.write_all(&encode(&ans)).await?;
            conn.flush().await
        }
        .await;
        if let Err(e) = sent {
            if metered {
                shared.metering.fetch_sub(1, Ordering::SeqCst);
            }
            return Err(e);
        }
    }
    let _ = conn.shutdown().await;
    if metered {
        // What the read cost, measured after the client has its answer (so
        // that metering never slows the code under test): a filtered Scan or
        // Query pays for every item it read, which only the same request
        // without the filter shows.
        let units = match metering::unfiltered(&req.body) {
            Some(body) => {
                let shadow = Message {
                    start: req.start.clone(),
                    headers: req.headers.clone(),
                    body,
                };
                match forward(&shared, service, &shadow).await {
                    Ok(all) => metering::read_units_of(&operation, &req.body, &all.body),
                    Err(_) => None,
                }
            }
            None => metering::read_units_of(&operation, &req.body, &answer_body),
        };
        // (The log may have been reset meanwhile.)
        if let Some(e) = lock(&shared.log).get_mut(index) {
            e.read_units = units;
        }
        shared.metering.fetch_sub(1, Ordering::SeqCst);
    }
    Ok(())
}

fn status_of(m: &Message) -> Option<u16> {
    m.start.split(' ').nth(1).and_then(|s| s.parse().ok())
}

async fn apply(
    shared: &Shared,
    service: Service,
    req: &Message,
    fault: Fault,
    arrivals: Option<watch::Sender<usize>>,
) -> std::io::Result<Option<Message>> {
    Ok(match fault {
        Fault::Error {
            status,
            code,
            message,
        } => Some(error_answer(service, status, &code, &message)),
        Fault::Malformed { status } => Some(answer(
            status,
            vec![("Content-Type".into(), "text/html".into())],
            b"<html><body><h1>Bad Gateway</h1>upstream said something odd</body></html>".to_vec(),
        )),
        Fault::Truncated => {
            let mut real = forward(shared, service, req).await?;
            let half = real.body.len() / 2;
            real.body.truncate(half);
            Some(real)
        }
        Fault::Hang(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Fault::Drop => None,
        Fault::ForwardThen(inner) => {
            let _ = forward(shared, service, req).await?;
            Box::pin(apply(shared, service, req, *inner, None)).await?
        }
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            Some(forward(shared, service, req).await?)
        }
        Fault::Barrier { parties, timeout } => {
            if let Some(tx) = arrivals {
                let mut rx = tx.subscribe();
                tx.send_modify(|n| *n += 1);
                let _ = tokio::time::timeout(timeout, rx.wait_for(|n| *n >= parties)).await;
            }
            Some(forward(shared, service, req).await?)
        }
        Fault::Rewrite(f) => {
            let mut real = forward(shared, service, req).await?;
            if status_of(&real).is_some_and(|s| (200..300).contains(&s))
                && let Ok(mut v) = serde_json::from_slice::<Value>(&real.body)
            {
                f(&mut v);
                real.body = serde_json::to_vec(&v).unwrap_or_default();
                // A checksum of the old body would now be wrong.
                real.headers
                    .retain(|(k, _)| !k.eq_ignore_ascii_case("x-amz-crc32"));
            }
            Some(real)
        }
    })
}

/// Sends `req` to its emulator and reads the whole answer.
async fn forward(shared: &Shared, service: Service, req: &Message) -> std::io::Result<Message> {
    let upstream = match service {
        Service::DynamoDb => &shared.dynamodb,
        Service::CloudWatch | Service::Lambda => &shared.localstack,
    };
    let mut up = TcpStream::connect(upstream.as_str()).await?;
    let mut out = format!("{}\r\n", req.start).into_bytes();
    for (k, v) in &req.headers {
        let lk = k.to_ascii_lowercase();
        if matches!(
            lk.as_str(),
            "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "expect"
        ) {
            continue;
        }
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            req.body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&req.body);
    up.write_all(&out).await?;
    read_message(&mut up, true, false).await
}

fn answer(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Message {
    Message {
        start: format!("HTTP/1.1 {status} {}", reason(status)),
        headers,
        body,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// An error answer in the service's own protocol.
fn error_answer(service: Service, status: u16, code: &str, message: &str) -> Message {
    match service {
        Service::DynamoDb => answer(
            status,
            vec![("Content-Type".into(), "application/x-amz-json-1.0".into())],
            serde_json::json!({
                "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
                "message": message,
            })
            .to_string()
            .into_bytes(),
        ),
        Service::Lambda => answer(
            status,
            vec![
                ("Content-Type".into(), "application/json".into()),
                ("x-amzn-ErrorType".into(), code.to_owned()),
            ],
            serde_json::json!({"Type": "User", "message": message})
                .to_string()
                .into_bytes(),
        ),
        Service::CloudWatch => answer(
            status,
            vec![
                ("Content-Type".into(), "application/cbor".into()),
                ("smithy-protocol".into(), "rpc-v2-cbor".into()),
            ],
            cbor_text_map(&[
                ("__type", &format!("com.amazonaws.cloudwatch#{code}")),
                ("message", message),
            ]),
        ),
    }
}

/// A CBOR map of text keys to text values (RFC 8949: major type 5 for the
/// map, 3 for text strings, lengths below 65,536).
fn cbor_text_map(entries: &[(&str, &str)]) -> Vec<u8> {
    fn head(out: &mut Vec<u8>, major: u8, len: usize) {
        let m = major << 5;
        match len {
            0..=23 => out.push(m | u8::try_from(len).unwrap_or(0)),
            24..=255 => {
                out.push(m | 24);
                out.push(u8::try_from(len).unwrap_or(0));
            }
            _ => {
                out.push(m | 25);
                out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
            }
        }
    }
    let mut out = Vec::new();
    head(&mut out, 5, entries.len());
    for (k, v) in entries {
        head(&mut out, 3, k.len());
        out.extend_from_slice(k.as_bytes());
        head(&mut out, 3, v.len());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// Serialises an answer with a `Content-Length` body and `Connection: close`.
fn encode(m: &Message) -> Vec<u8> {
    let mut out = format!("{}\r\n", m.start).into_bytes();
    for (k, v) in &m.headers {
        let lk = k.to_ascii_lowercase();
        if matches!(
            lk.as_str(),
            "connection" | "keep-alive" | "transfer-encoding" | "content-length"
        ) {
            continue;
        }
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            m.body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&m.body);
    out
}
