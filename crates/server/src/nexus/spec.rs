//! The checks Temporal runs on an endpoint spec before writing it, with its messages: every
//! failed check is reported, joined with ", ", in one INVALID_ARGUMENT; a worker target's
//! namespace must exist (FAILED_PRECONDITION otherwise).

use temper_api::proto::nexus::v1::EndpointSpec;
use temper_api::proto::nexus::v1::endpoint_target::Variant;
use tonic::Status;

use crate::errors;
use crate::namespaces::Namespaces;

const MAX_NAME_BYTES: usize = 200;
const MAX_TASK_QUEUE_BYTES: usize = 1000;
const MAX_URL_BYTES: usize = 4096;
const MAX_DESCRIPTION_BYTES: usize = 20_000;
const NAME_PATTERN: &str = "^[a-zA-Z][a-zA-Z0-9\\\\-]*[a-zA-Z0-9]$";

pub(super) fn check(spec: Option<&EndpointSpec>, namespaces: &Namespaces) -> Result<(), Status> {
    let Some(spec) = spec else {
        return Err(errors::invalid("empty endpoint spec"));
    };
    let mut issues = name_issues(&spec.name);
    let target = spec.target.as_ref().and_then(|t| t.variant.as_ref());
    match target {
        None => issues.push("empty target variant".to_string()),
        Some(Variant::Worker(worker)) => {
            if worker.namespace.is_empty() {
                issues.push("target namespace not set".to_string());
            }
            issues.extend(task_queue_issue(&worker.task_queue));
        }
        Some(Variant::External(external)) => issues.extend(url_issue(&external.url)),
    }
    let description_bytes = spec.description.as_ref().map_or(0, |d| {
        d.data.len()
            + d.metadata
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    });
    if description_bytes > MAX_DESCRIPTION_BYTES {
        issues.push(format!(
            "description size exceeds limit of {MAX_DESCRIPTION_BYTES}"
        ));
    }
    if !issues.is_empty() {
        return Err(errors::invalid(issues.join(", ")));
    }
    match target {
        Some(Variant::Worker(worker)) => namespaces.require(&worker.namespace).map_err(|missing| {
            Status::failed_precondition(format!(
                "could not verify namespace referenced by target exists: {}",
                missing.message()
            ))
        }),
        _ => Ok(()),
    }
}

fn name_issues(name: &str) -> Vec<String> {
    if name.is_empty() {
        return vec!["endpoint name not set".to_string()];
    }
    let mut issues = Vec::new();
    if name.len() > MAX_NAME_BYTES {
        issues.push(format!(
            "endpoint name exceeds length limit of {MAX_NAME_BYTES}"
        ));
    }
    if !name_matches(name) {
        issues.push(format!(
            "endpoint name must match the regex: \"{NAME_PATTERN}\""
        ));
    }
    issues
}

/// `^[a-zA-Z][a-zA-Z0-9\-]*[a-zA-Z0-9]$`: a letter, then letters, digits and dashes, ending
/// in a letter or digit (so at least two characters).
fn name_matches(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    bytes.len() >= 2
        && first.is_ascii_alphabetic()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

fn task_queue_issue(task_queue: &str) -> Option<String> {
    let problem = if task_queue.is_empty() {
        "taskQueue is not set"
    } else if task_queue.len() > MAX_TASK_QUEUE_BYTES {
        "taskQueue length exceeds limit"
    } else if task_queue.starts_with("/_sys/") {
        "task queue name cannot start with reserved prefix /_sys/"
    } else {
        return None;
    };
    Some(format!("invalid target task queue: \"{problem}\""))
}

fn url_issue(url: &str) -> Option<String> {
    if url.is_empty() {
        return Some("empty target URL".to_string());
    }
    if url.len() > MAX_URL_BYTES {
        return Some(format!(
            "target URL length exceeds limit of {MAX_URL_BYTES}"
        ));
    }
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    if scheme != "http" && scheme != "https" {
        return Some(format!(
            "invalid target URL scheme: \"{scheme}\", expected http or https"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_temporals_pattern() {
        for good in ["ab", "my-endpoint-1", "A9"] {
            assert!(name_matches(good), "{good}");
        }
        for bad in ["a", "1ab", "a_b", "ab-", "-ab", "a b"] {
            assert!(!name_matches(bad), "{bad}");
        }
    }

    #[test]
    fn every_issue_is_reported() {
        assert_eq!(
            name_issues(&"_".repeat(201)),
            [
                "endpoint name exceeds length limit of 200".to_string(),
                "endpoint name must match the regex: \"^[a-zA-Z][a-zA-Z0-9\\\\-]*[a-zA-Z0-9]$\""
                    .to_string()
            ]
        );
        assert_eq!(
            url_issue("ftp://x").as_deref(),
            Some("invalid target URL scheme: \"ftp\", expected http or https")
        );
    }
}
