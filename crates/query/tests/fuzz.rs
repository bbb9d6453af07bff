//! Seeded fuzzing of the public API: arbitrary input must never panic or stall, and every query
//! from the valid-query generator must compile, with one parameter per placeholder and no
//! user data in the SQL text. Every input is compiled for SQLite and for PostgreSQL: both
//! dialects accept and refuse the same queries, with the same parameters.

use std::time::{Duration, Instant};

use temper_query::{
    AttributeType, CompiledQuery, Dialect, QueryError, SqlValue, parse, parse_and_compile,
    parse_and_compile_for,
};

/// xorshift64*: tiny, deterministic, good enough to explore inputs.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn custom(name: &str) -> Option<AttributeType> {
    Some(match name {
        "CustomKeywordField" | "Custom Attr" | "Quote\"Back\\slash'" => AttributeType::Keyword,
        "CustomTextField" => AttributeType::Text,
        "CustomIntField" => AttributeType::Int,
        "CustomDoubleField" => AttributeType::Double,
        "CustomBoolField" => AttributeType::Bool,
        "CustomDatetimeField" => AttributeType::Datetime,
        "CustomKeywordListField" => AttributeType::KeywordList,
        _ => return None,
    })
}

/// Runs parse + compile, timing the call. A panic fails the test by itself.
fn run(input: &str, slowest: &mut Duration) -> Result<CompiledQuery, QueryError> {
    run_both(input, slowest).0
}

/// The first PostgreSQL placeholder number used for an input (varied, deterministic).
fn first_parameter(input: &str) -> usize {
    1 + input.len() % 4
}

/// Compiles `input` for SQLite and for PostgreSQL, noting the slowest, and checks that they agree and
/// that the PostgreSQL placeholders line up with the parameters.
fn run_both(
    input: &str,
    slowest: &mut Duration,
) -> (
    Result<CompiledQuery, QueryError>,
    Result<CompiledQuery, QueryError>,
) {
    let mut timed = |f: &dyn Fn() -> Result<CompiledQuery, QueryError>| {
        let start = Instant::now();
        let result = f();
        let elapsed = start.elapsed();
        // Reported, not asserted: a time limit fails on a loaded machine, not on slow code
        // (a quadratic compiler would take hours on the 100,000-term inputs below).
        if elapsed > *slowest {
            *slowest = elapsed;
        }
        result
    };
    let first = first_parameter(input);
    let sqlite = timed(&|| parse_and_compile(input, &custom));
    let postgres = timed(&|| {
        parse_and_compile_for(
            input,
            &custom,
            Dialect::Postgres {
                first_parameter: first,
            },
        )
    });
    match (&sqlite, &postgres) {
        (Ok(s), Ok(p)) => {
            assert_eq!(
                s.where_sql.matches('?').count(),
                s.params.len(),
                "{input:?} -> {s:?}"
            );
            assert_eq!(s.params, p.params, "{input:?}");
            assert_eq!(s.group_by_status, p.group_by_status, "{input:?}");
            assert_eq!(s.order_by.is_some(), p.order_by.is_some(), "{input:?}");
            check_postgres_placeholders(p, first);
        }
        (Err(s), Err(p)) => assert_eq!(s, p, "{input:?}"),
        _ => panic!("{input:?}: dialects disagree: {sqlite:?} / {postgres:?}"),
    }
    (sqlite, postgres)
}

/// Scans the PostgreSQL SQL (skipping '...' literals, where attribute names live): every
/// placeholder is `$first..$first + params.len() - 1` with the cast of its value's type, each
/// of them appears, and ORDER BY has none.
fn check_postgres_placeholders(c: &CompiledQuery, first: usize) {
    let sql = c.where_sql.as_bytes();
    let mut seen = vec![false; c.params.len()];
    let mut i = 0;
    while i < sql.len() {
        match sql[i] {
            b'\'' => {
                i += 1;
                while i < sql.len() && sql[i] != b'\'' {
                    i += 1;
                }
            }
            b'$' => {
                let digits = sql[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                assert!(digits > 0, "bare $ in {}", c.where_sql);
                let n: usize = c.where_sql[i + 1..i + 1 + digits]
                    .parse()
                    .expect("placeholder digits");
                assert!(
                    n >= first && n < first + c.params.len(),
                    "${n} out of range in {}",
                    c.where_sql
                );
                let cast = match c.params[n - first] {
                    SqlValue::Int(_) => "::bigint",
                    SqlValue::Real(_) => "::double precision",
                    SqlValue::Text(_) => "::text",
                };
                assert!(
                    c.where_sql[i + 1 + digits..].starts_with(cast),
                    "${n} lacks {cast} in {}",
                    c.where_sql
                );
                seen[n - first] = true;
                i += digits;
            }
            _ => {}
        }
        i += 1;
    }
    assert!(
        seen.iter().all(|&s| s),
        "a parameter has no placeholder in {}",
        c.where_sql
    );
    if let Some(order) = &c.order_by {
        assert!(!order.contains('$') && !order.contains('?'), "{order}");
    }
}

const VOCABULARY: &[&str] = &[
    "WorkflowId",
    "RunId",
    "WorkflowType",
    "ExecutionStatus",
    "ExecutionDuration",
    "StartTime",
    "CloseTime",
    "HistoryLength",
    "BuildIds",
    "TemporalSchedulePaused",
    "CustomKeywordField",
    "CustomTextField",
    "CustomIntField",
    "CustomDoubleField",
    "CustomBoolField",
    "CustomDatetimeField",
    "CustomKeywordListField",
    "`Custom Attr`",
    "Unknown",
    "=",
    "!=",
    "<>",
    "<",
    ">",
    "<=",
    ">=",
    "<=>",
    "IN",
    "NOT",
    "AND",
    "OR",
    "&&",
    "||",
    "BETWEEN",
    "STARTS_WITH",
    "IS",
    "NULL",
    "TRUE",
    "false",
    "LIKE",
    "ESCAPE",
    "REGEXP",
    "ORDER",
    "GROUP",
    "BY",
    "ASC",
    "DESC",
    "LIMIT",
    "HAVING",
    "(",
    ")",
    ",",
    "'x'",
    "\"y\"",
    "''",
    "'2024-01-01T00:00:00Z'",
    "'Running'",
    "'1h30m'",
    "'01:02:03'",
    "1",
    "-2",
    "3.5",
    "1e3",
    ".5",
    "9223372036854775808",
    "--",
    "/*",
    "*/",
    "#",
    ";",
    "`",
    "'",
    "\"",
    "\\",
    "é",
    "\u{0}",
    "?",
    ".",
    "*",
    "0x1",
    "X'ab'",
];

fn random_unicode(rng: &mut Rng, len: usize) -> String {
    (0..len)
        .map(|_| match rng.below(4) {
            0 => char::from(rng.below(128) as u8),
            1 => char::from_u32(rng.below(0x800) as u32).unwrap_or('?'),
            2 => char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{fffd}'),
            _ => *rng.pick(&['\'', '"', '`', '\\', '(', ')', ' ', '-', '/', '*', '#', '=']),
        })
        .collect()
}

fn token_soup(rng: &mut Rng) -> String {
    let n = rng.below(16);
    let mut out = String::new();
    for _ in 0..n {
        let piece = *rng.pick(VOCABULARY);
        out.push_str(piece);
        if rng.chance(85) {
            out.push(' ');
        }
    }
    out
}

fn mutate(rng: &mut Rng, input: &str) -> String {
    let mut chars: Vec<char> = input.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 => {
                let c = random_unicode(rng, 1).chars().next().unwrap_or('x');
                chars.insert(at, c);
            }
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ if at < chars.len() => {
                chars[at] = random_unicode(rng, 1).chars().next().unwrap_or('x');
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn either(rng: &mut Rng, a: &'static str, b: &'static str) -> &'static str {
    if rng.chance(50) { a } else { b }
}

// ---- valid query generator -------------------------------------------------------------

/// A marker placed in every generated string value, to prove values never reach the SQL text.
const MARKER: &str = "ZQ";

fn random_keyword_case(rng: &mut Rng, kw: &str) -> String {
    kw.chars()
        .map(|c| {
            if rng.chance(50) {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// Any string, including quotes, backslashes, SQL comment markers and non-ASCII.
fn random_text(rng: &mut Rng) -> String {
    let pieces = [
        "a", "Order", " ", "'", "\"", "\\", "%", "_", "?", ";", "--", "/*", "é", "日本", "\n",
        "\t", "`", "x1",
    ];
    let mut s = String::from(MARKER);
    for _ in 0..rng.below(6) {
        let piece = *rng.pick(&pieces);
        s.push_str(piece);
    }
    s
}

/// Renders `s` as a SQL string literal, choosing randomly among the accepted escapes.
fn quote(rng: &mut Rng, s: &str) -> String {
    let delim = if rng.chance(70) { '\'' } else { '"' };
    let mut out = String::new();
    out.push(delim);
    for c in s.chars() {
        match c {
            c if c == delim => {
                if rng.chance(50) {
                    out.push(delim);
                    out.push(delim);
                } else {
                    out.push('\\');
                    out.push(delim);
                }
            }
            '\\' => out.push_str("\\\\"),
            '\n' if rng.chance(50) => out.push_str("\\n"),
            '\t' if rng.chance(50) => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push(delim);
    out
}

#[derive(Clone, Copy)]
enum Kind {
    Keyword,
    Status,
    Duration,
    Text,
    Int,
    Double,
    Bool,
    Datetime,
    KeywordList,
}

const ATTRIBUTES: &[(&str, Kind)] = &[
    ("WorkflowId", Kind::Keyword),
    ("RunId", Kind::Keyword),
    ("WorkflowType", Kind::Keyword),
    ("TaskQueue", Kind::Keyword),
    ("ParentWorkflowId", Kind::Keyword),
    ("ScheduleId", Kind::Keyword),
    ("CustomKeywordField", Kind::Keyword),
    ("Custom Attr", Kind::Keyword),
    ("Quote\"Back\\slash'", Kind::Keyword),
    ("BatcherUser", Kind::Keyword),
    ("ExecutionStatus", Kind::Status),
    ("ExecutionDuration", Kind::Duration),
    ("CustomTextField", Kind::Text),
    ("HistoryLength", Kind::Int),
    ("HistorySizeBytes", Kind::Int),
    ("StateTransitionCount", Kind::Int),
    ("CustomIntField", Kind::Int),
    ("CustomDoubleField", Kind::Double),
    ("CustomBoolField", Kind::Bool),
    ("TemporalSchedulePaused", Kind::Bool),
    ("StartTime", Kind::Datetime),
    ("ExecutionTime", Kind::Datetime),
    ("CloseTime", Kind::Datetime),
    ("CustomDatetimeField", Kind::Datetime),
    ("TemporalScheduledStartTime", Kind::Datetime),
    ("CustomKeywordListField", Kind::KeywordList),
    ("BuildIds", Kind::KeywordList),
    ("TemporalChangeVersion", Kind::KeywordList),
];

fn attribute_name(rng: &mut Rng, name: &str) -> String {
    let bare = name.chars().all(|c| c.is_ascii_alphanumeric());
    if bare && rng.chance(70) {
        name.to_string()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

fn datetime(rng: &mut Rng) -> String {
    if rng.chance(20) {
        return (rng.next() as i64 >> 2).to_string();
    }
    let mut s = format!(
        "'{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        1000 + rng.below(9000),
        1 + rng.below(12),
        1 + rng.below(28),
        rng.below(24),
        rng.below(60),
        rng.below(60)
    );
    if rng.chance(50) {
        s.push('.');
        for _ in 0..1 + rng.below(12) {
            s.push(char::from(b'0' + rng.below(10) as u8));
        }
    }
    if rng.chance(50) {
        s.push('Z');
    } else {
        let sign = if rng.chance(50) { '+' } else { '-' };
        s.push_str(&format!("{sign}{:02}:{:02}", rng.below(24), rng.below(60)));
    }
    s.push('\'');
    s
}

fn number(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => (rng.next() as i64).to_string(),
        1 => format!("{}", rng.below(1000)),
        2 => format!("-{}.{}", rng.below(1000), rng.below(1000)),
        _ => format!("{}e{}", rng.below(100), rng.below(20)),
    }
}

fn value(rng: &mut Rng, kind: Kind) -> String {
    match kind {
        Kind::Keyword | Kind::KeywordList => {
            let s = random_text(rng);
            quote(rng, &s)
        }
        Kind::Text => {
            let s = format!("{} {}", random_text(rng), random_text(rng));
            quote(rng, &s)
        }
        Kind::Status => {
            let names = [
                "'Running'",
                "'Completed'",
                "'Failed'",
                "'Canceled'",
                "'Terminated'",
                "'ContinuedAsNew'",
                "'TimedOut'",
                "'WORKFLOW_EXECUTION_STATUS_RUNNING'",
                "2",
                "7",
            ];
            rng.pick(&names).to_string()
        }
        Kind::Duration => {
            let forms = [
                "'1h30m'",
                "'300ms'",
                "'-1.5h'",
                "'2d'",
                "'01:02:03'",
                "'12345'",
                "42",
            ];
            rng.pick(&forms).to_string()
        }
        Kind::Int | Kind::Double => number(rng),
        Kind::Bool => {
            let word = either(rng, "true", "false");
            random_keyword_case(rng, word)
        }
        Kind::Datetime => datetime(rng),
    }
}

fn values(rng: &mut Rng, kind: Kind) -> String {
    let n = 1 + rng.below(4);
    let items: Vec<String> = (0..n).map(|_| value(rng, kind)).collect();
    format!("({})", items.join(", "))
}

fn predicate(rng: &mut Rng) -> String {
    let &(name, kind) = rng.pick(ATTRIBUTES);
    let attr = attribute_name(rng, name);
    let compare = ["=", "!=", "<>", "<", "<=", ">", ">="];
    let kw = |rng: &mut Rng, s: &str| random_keyword_case(rng, s);
    let ordered = matches!(
        kind,
        Kind::Keyword | Kind::Status | Kind::Duration | Kind::Int | Kind::Double | Kind::Datetime
    );
    let choice = rng.below(8);
    match (kind, choice) {
        (_, 0) => {
            let not = either(rng, "NOT ", "");
            format!(
                "{attr} {} {}",
                kw(rng, "IS"),
                kw(rng, &format!("{not}NULL"))
            )
        }
        (Kind::Text, _) => {
            let op = either(rng, "=", "!=");
            format!("{attr} {op} {}", value(rng, kind))
        }
        (Kind::KeywordList, 1 | 2) => {
            let word = either(rng, "IN", "NOT IN");
            let op = kw(rng, word);
            format!("{attr} {op} {}", values(rng, kind))
        }
        (Kind::KeywordList, _) => {
            let op = either(rng, "=", "!=");
            format!("{attr} {op} {}", value(rng, kind))
        }
        (_, 1) => {
            let word = either(rng, "IN", "NOT IN");
            let op = kw(rng, word);
            format!("{attr} {op} {}", values(rng, kind))
        }
        (_, 2) if ordered => {
            let word = either(rng, "BETWEEN", "NOT BETWEEN");
            let op = kw(rng, word);
            let (low, high) = (value(rng, kind), value(rng, kind));
            format!("{attr} {op} {low} {} {high}", kw(rng, "AND"))
        }
        (Kind::Keyword, 3) => {
            let word = either(rng, "STARTS_WITH", "NOT STARTS_WITH");
            let op = kw(rng, word);
            format!("{attr} {op} {}", value(rng, kind))
        }
        _ => {
            let op = *rng.pick(&compare);
            format!("{attr} {op} {}", value(rng, kind))
        }
    }
}

fn expression(rng: &mut Rng, depth: usize) -> String {
    if depth == 0 || rng.chance(40) {
        return predicate(rng);
    }
    match rng.below(4) {
        0 | 1 => {
            let joiner = if rng.chance(50) {
                random_keyword_case(rng, "AND")
            } else {
                random_keyword_case(rng, "OR")
            };
            let n = 2 + rng.below(3);
            let parts: Vec<String> = (0..n).map(|_| expression(rng, depth - 1)).collect();
            parts.join(&format!(" {joiner} "))
        }
        2 => format!(
            "{} {}",
            random_keyword_case(rng, "NOT"),
            expression(rng, depth - 1)
        ),
        _ => format!("({})", expression(rng, depth - 1)),
    }
}

fn valid_query(rng: &mut Rng) -> String {
    let mut q = if rng.chance(90) {
        expression(rng, 4)
    } else {
        String::new()
    };
    if rng.chance(15) {
        q.push_str(" GROUP BY ExecutionStatus");
    }
    if rng.chance(20) {
        let sortable = [
            "StartTime",
            "CloseTime",
            "WorkflowId",
            "ExecutionStatus",
            "CustomIntField",
            "`Custom Attr`",
        ];
        let n = 1 + rng.below(3);
        let terms: Vec<String> = (0..n)
            .map(|_| {
                let dir = *rng.pick(&["", " ASC", " DESC", " desc"]);
                format!("{}{dir}", rng.pick(&sortable))
            })
            .collect();
        q.push_str(&format!(" ORDER BY {}", terms.join(", ")));
    }
    q
}

// ---- tests --------------------------------------------------------------------------------

#[test]
fn arbitrary_input_never_panics_or_stalls() {
    let mut rng = Rng::new(0x5eed_1234_abcd_ef01);
    let mut slowest = Duration::ZERO;
    let mut seeds: Vec<String> = (0..200).map(|_| valid_query(&mut rng)).collect();
    seeds.push("WorkflowId = 'a' AND (RunId IN ('x', 'y') OR NOT HistoryLength > 3)".into());
    let start = Instant::now();
    let mut accepted = 0usize;
    for i in 0..200_000usize {
        let input = match i % 5 {
            0 => {
                let len = rng.below(48);
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            1 => {
                let len = rng.below(48);
                random_unicode(&mut rng, len)
            }
            2 => token_soup(&mut rng),
            _ => {
                let seed = rng.pick(&seeds).clone();
                mutate(&mut rng, &seed)
            }
        };
        if run(&input, &mut slowest).is_ok() {
            accepted += 1;
        }
    }
    // Some mutations stay valid; if none did, the fuzzer would be testing nothing but errors.
    assert!(accepted > 1_000, "only {accepted} inputs compiled");
    eprintln!(
        "fuzz: 200000 inputs, {accepted} accepted, slowest {slowest:?}, total {:?}",
        start.elapsed()
    );
}

#[test]
fn generated_valid_queries_compile() {
    let mut rng = Rng::new(42);
    let mut slowest = Duration::ZERO;
    for _ in 0..20_000 {
        let q = valid_query(&mut rng);
        let (compiled, postgres) = match run_both(&q, &mut slowest) {
            (Ok(s), Ok(p)) => (s, p),
            (Err(e), _) => panic!("{q:?} failed: {e}"),
            (_, Err(e)) => panic!("{q:?} failed for PostgreSQL: {e}"),
        };
        // Values travel only as parameters.
        for c in [&compiled, &postgres] {
            assert!(
                !c.where_sql.contains(MARKER),
                "{q:?} leaked a value: {}",
                c.where_sql
            );
            for p in &c.params {
                if let SqlValue::Text(s) = p
                    && s.starts_with(MARKER)
                {
                    assert!(!c.where_sql.contains(s.as_str()));
                }
            }
        }
        if let Some(order) = &compiled.order_by {
            assert!(!order.contains('?'));
        }
        // Compiling is deterministic.
        let again = parse(&q).and_then(|ast| temper_query::compile(&ast, &custom));
        assert_eq!(again.as_ref(), Ok(&compiled));
        let dialect = Dialect::Postgres {
            first_parameter: first_parameter(&q),
        };
        let again = parse(&q).and_then(|ast| temper_query::compile_for(&ast, &custom, dialect));
        assert_eq!(again.as_ref(), Ok(&postgres));
    }
}

#[test]
fn string_literals_round_trip_into_parameters() {
    let mut rng = Rng::new(7);
    let mut slowest = Duration::ZERO;
    for _ in 0..5_000 {
        let s = random_text(&mut rng);
        let q = format!("WorkflowId = {}", quote(&mut rng, &s));
        let compiled = run(&q, &mut slowest).unwrap_or_else(|e| panic!("{q:?}: {e}"));
        assert_eq!(compiled.params, vec![SqlValue::Text(s)], "{q:?}");
    }
}

#[test]
fn huge_inputs_are_linear() {
    let mut slowest = Duration::ZERO;
    // Long chains are refused past 995 terms (as upstream), quickly.
    let chain = vec!["WorkflowId = 'a'"; 100_000].join(" OR ");
    assert!(run(&chain, &mut slowest).is_err());
    let chain = vec!["WorkflowId = 'a'"; 995].join(" OR ");
    assert_eq!(run(&chain, &mut slowest).expect("chain").params.len(), 995);
    let list = format!("RunId IN ({})", vec!["'x'"; 100_000].join(", "));
    assert_eq!(
        run(&list, &mut slowest).expect("long list").params.len(),
        100_000
    );
    for deep in [
        format!(
            "{}WorkflowId = 'a'{}",
            "(".repeat(1_000_000),
            ")".repeat(1_000_000)
        ),
        format!("{}WorkflowId = 'a'", "NOT ".repeat(1_000_000)),
        "'".repeat(1_000_000),
        "/*".repeat(1_000_000),
    ] {
        assert!(run(&deep, &mut slowest).is_err());
    }
}
