//! `footprint`: a server spawned on an empty store, left idle. Reports the time from spawn to
//! the first accepted TCP connection and to the first successful `GetSystemInfo`, and the
//! process's resident memory (`VmRSS`) 1 s and 5 s after it started serving.

use std::time::{Duration, Instant};

use crate::server::{Server, ServerProcess};
use crate::{Error, Figure, Report, mib, ms};

pub struct FootprintReport {
    to_listening: Duration,
    to_serving: Duration,
    rss_1s: Option<u64>,
    rss_5s: Option<u64>,
}

impl Report for FootprintReport {
    fn lines(&self) -> Vec<String> {
        vec![format!(
            "start to listening {:.1} ms, start to serving {:.1} ms; idle RSS {} after 1 s, \
             {} after 5 s",
            ms(self.to_listening),
            ms(self.to_serving),
            mib(self.rss_1s),
            mib(self.rss_5s),
        )]
    }

    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::lower("start to listening", ms(self.to_listening)),
            Figure::lower("start to serving", ms(self.to_serving)),
            Figure::lower("idle RSS after 1 s", self.rss_1s.map(|b| b as f64)),
            Figure::lower("idle RSS after 5 s", self.rss_5s.map(|b| b as f64)),
        ]
    }
}

pub async fn run(server: &Server) -> Result<FootprintReport, Error> {
    let process: &ServerProcess = server
        .process
        .as_ref()
        .ok_or("footprint needs a server process of its own")?;
    let serving: Instant = process.spawned_at + process.to_serving;
    let rss_at = |seconds| async move {
        tokio::time::sleep_until((serving + Duration::from_secs(seconds)).into()).await;
        process.rss_bytes()
    };
    let rss_1s = rss_at(1).await;
    let rss_5s = rss_at(5).await;
    Ok(FootprintReport {
        to_listening: process.to_listening,
        to_serving: process.to_serving,
        rss_1s,
        rss_5s,
    })
}
