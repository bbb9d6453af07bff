//! `temper server start --config temper.toml`: the server's flags in a TOML file.
//!
//! Each key is a flag's name without its dashes (`port`, `tls.cert_path` for
//! `--tls-cert-path`, `postgres.url` for `--postgres`); the file's settings are inserted on the
//! command line before the flags given there, which therefore win. An unknown key is an error
//! that names it, so a typo never silently leaves a server unprotected.
//!
//! ```toml
//! port = 7233
//! ip = "0.0.0.0"
//! data_dir = "/var/lib/temper"
//! namespace_rps = 200
//! audit_log = true
//!
//! [tls]
//! cert_path = "/etc/temper/server.pem"
//! key_path = "/etc/temper/server.key"
//! client_ca_path = "/etc/temper/clients-ca.pem"
//!
//! [auth]
//! jwks_path = "/etc/temper/jwks.json"
//!
//! [postgres]
//! url = "host=db.internal user=temper dbname=temper sslmode=require"
//! schema = "temper"
//! ca_path = "/etc/temper/db-ca.pem"
//!
//! [cluster]
//! advertise_address = "10.0.0.5:7233"
//! tls_ca_path = "/etc/temper/server-ca.pem"
//! tls_cert_path = "/etc/temper/node.pem"
//! tls_key_path = "/etc/temper/node.key"
//! ```

use toml::Value;

/// Top-level keys: the flag each sets.
const TOP_LEVEL: &[(&str, &str)] = &[
    ("port", "--port"),
    ("ip", "--ip"),
    ("namespaces", "--namespace"),
    ("data_dir", "--data-dir"),
    ("http_port", "--http-port"),
    ("ui_port", "--ui-port"),
    ("ui_ip", "--ui-ip"),
    ("metrics_port", "--metrics-port"),
    ("namespace_rps", "--namespace-rps"),
    ("audit_log", "--audit-log"),
    ("namespace_long_polls", "--namespace-long-polls"),
    ("run_cache_mib", "--run-cache-mib"),
    ("queued_tasks_per_queue", "--queued-tasks-per-queue"),
];

/// `[table]` keys: the flag each sets.
const TABLES: &[(&str, &[(&str, &str)])] = &[
    (
        "tls",
        &[
            ("cert_path", "--tls-cert-path"),
            ("key_path", "--tls-key-path"),
            ("client_ca_path", "--tls-client-ca-path"),
        ],
    ),
    (
        "auth",
        &[
            ("jwks_path", "--auth-jwks-path"),
            ("certificate_roles", "--auth-certificate-roles"),
        ],
    ),
    (
        "postgres",
        &[
            ("url", "--postgres"),
            ("schema", "--postgres-schema"),
            ("ca_path", "--postgres-ca-path"),
        ],
    ),
    (
        "cluster",
        &[
            ("advertise_address", "--advertise-address"),
            ("shards", "--shards"),
            ("shard_lease_seconds", "--shard-lease-seconds"),
            ("spread_shards", "--cluster-spread-shards"),
            ("active_standby", "--cluster-active-standby"),
            ("tls_ca_path", "--cluster-tls-ca-path"),
            ("tls_cert_path", "--cluster-tls-cert-path"),
            ("tls_key_path", "--cluster-tls-key-path"),
        ],
    ),
];

/// `argv` with `--config FILE` replaced by the flags the file sets (placed right after the
/// `start` subcommand, so flags on the command line override them).
pub fn expand(argv: Vec<String>) -> Result<Vec<String>, String> {
    let Some(at) = argv
        .iter()
        .position(|a| a == "--config" || a.starts_with("--config="))
    else {
        return Ok(argv);
    };
    let is_start = argv.get(1).map(String::as_str) == Some("server")
        && argv.get(2).map(String::as_str) == Some("start");
    if !is_start {
        return Err("--config is a flag of `temper server start`".into());
    }
    let (path, taken) = match argv[at].strip_prefix("--config=") {
        Some(path) => (path.to_string(), 1),
        None => (
            argv.get(at + 1)
                .cloned()
                .ok_or("--config needs a file name")?,
            2,
        ),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("--config {path}: {e}"))?;
    let flags = flags_of(&text).map_err(|e| format!("--config {path}: {e}"))?;
    let mut expanded: Vec<String> = argv[..3].to_vec();
    expanded.extend(flags);
    expanded.extend(argv[3..at].iter().cloned());
    expanded.extend(argv[at + taken..].iter().cloned());
    Ok(expanded)
}

/// The flags a configuration file sets.
fn flags_of(text: &str) -> Result<Vec<String>, String> {
    let document: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut flags = Vec::new();
    for (key, value) in &document {
        if let Some((_, entries)) = TABLES.iter().find(|(table, _)| table == key) {
            let table = value
                .as_table()
                .ok_or_else(|| format!("`{key}` must be a table ([{key}])"))?;
            for (inner, value) in table {
                let flag =
                    find(entries, inner).ok_or_else(|| unknown(&format!("{key}.{inner}")))?;
                push(&mut flags, flag, value, &format!("{key}.{inner}"))?;
            }
            continue;
        }
        let flag = find(TOP_LEVEL, key).ok_or_else(|| unknown(key))?;
        push(&mut flags, flag, value, key)?;
    }
    Ok(flags)
}

fn find(entries: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    entries
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, flag)| *flag)
}

fn unknown(key: &str) -> String {
    format!("unknown setting `{key}`")
}

/// Adds `flag` for `value`: scalars once, arrays once per element, booleans as switches.
fn push(flags: &mut Vec<String>, flag: &str, value: &Value, key: &str) -> Result<(), String> {
    match value {
        Value::Boolean(true) => flags.push(flag.to_string()),
        Value::Boolean(false) => {}
        Value::Array(items) => {
            for item in items {
                push(flags, flag, item, key)?;
            }
        }
        Value::String(text) => flags.extend([flag.to_string(), text.clone()]),
        Value::Integer(number) => flags.extend([flag.to_string(), number.to_string()]),
        Value::Float(number) => flags.extend([flag.to_string(), number.to_string()]),
        _ => return Err(format!("`{key}` must be a string, number, boolean or list")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn settings_become_flags_that_the_command_line_overrides() {
        let flags = flags_of(
            "port = 9000\naudit_log = true\nnamespaces = [\"a\", \"b\"]\n[tls]\ncert_path = \"c.pem\"\n",
        )
        .unwrap();
        assert_eq!(
            flags,
            // In key order (TOML tables are sorted).
            argv(&[
                "--audit-log",
                "--namespace",
                "a",
                "--namespace",
                "b",
                "--port",
                "9000",
                "--tls-cert-path",
                "c.pem"
            ])
        );
    }

    #[test]
    fn unknown_settings_are_named() {
        assert_eq!(flags_of("prot = 1").unwrap_err(), "unknown setting `prot`");
        assert_eq!(
            flags_of("[tls]\ncert = \"x\"").unwrap_err(),
            "unknown setting `tls.cert`"
        );
    }

    #[test]
    fn every_setting_names_a_flag_of_server_start() {
        use clap::CommandFactory;
        let cli = crate::Cli::command();
        let start = cli
            .find_subcommand("server")
            .and_then(|server| server.find_subcommand("start"))
            .expect("temper server start");
        let flags: Vec<String> = start
            .get_arguments()
            .filter_map(|argument| argument.get_long())
            .map(|long| format!("--{long}"))
            .collect();
        let settings = TOP_LEVEL
            .iter()
            .chain(TABLES.iter().flat_map(|(_, keys)| keys.iter()));
        for (key, flag) in settings {
            assert!(flags.contains(&flag.to_string()), "{key} sets {flag}");
        }
    }

    #[test]
    fn only_server_start_takes_a_file() {
        let error = expand(argv(&["temper", "server", "start-dev", "--config", "x"])).unwrap_err();
        assert!(error.contains("server start"), "{error}");
        let untouched = argv(&["temper", "server", "start"]);
        assert_eq!(expand(untouched.clone()).unwrap(), untouched);
    }
}
