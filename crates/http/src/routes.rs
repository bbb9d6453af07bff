//! Finding the binding of an HTTP request among the generated [`HTTP_ROUTES`], as
//! grpc-gateway's mux does: path templates match segment by segment, `{field.path}` captures
//! one segment, and when several bindings match the one declared last wins.

use temper_api::{HTTP_ROUTES, HttpRoute};

/// What the route table says about a request.
#[derive(Debug)]
pub enum RouteMatch {
    /// A binding for this verb and path, with the captured fields (percent-decoded).
    Found {
        route: &'static HttpRoute,
        captures: Vec<(&'static str, String)>,
    },
    /// The path is bound, but only for other verbs.
    WrongVerb,
    NotFound,
}

pub fn find(verb: &str, path: &str) -> RouteMatch {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut other_verb = false;
    // grpc-gateway registers each binding in front of the earlier ones.
    for route in HTTP_ROUTES.iter().rev() {
        let Some(captures) = match_template(route.pattern, &segments) else {
            continue;
        };
        if route.verb == verb {
            return RouteMatch::Found { route, captures };
        }
        other_verb = true;
    }
    if other_verb {
        RouteMatch::WrongVerb
    } else {
        RouteMatch::NotFound
    }
}

fn match_template(
    template: &'static str,
    segments: &[&str],
) -> Option<Vec<(&'static str, String)>> {
    let parts: Vec<&'static str> = template.trim_start_matches('/').split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut captures = Vec::new();
    for (part, segment) in parts.into_iter().zip(segments) {
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(field) if !segment.is_empty() => {
                let value = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
                captures.push((field, value.into_owned()));
            }
            Some(_) => return None,
            None if part == *segment => {}
            None => return None,
        }
    }
    Some(captures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(verb: &str, path: &str) -> (&'static str, Vec<(&'static str, String)>) {
        match find(verb, path) {
            RouteMatch::Found { route, captures } => (route.method, captures),
            other => panic!("{verb} {path}: {other:?}"),
        }
    }

    #[test]
    fn captures_nested_fields_and_decodes_them() {
        let (method, captures) = found("GET", "/api/v1/namespaces/default/workflows/a%2Fb/history");
        assert!(method.ends_with("/GetWorkflowExecutionHistory"));
        assert_eq!(
            captures,
            [
                ("namespace", "default".to_string()),
                ("execution.workflow_id", "a/b".to_string())
            ]
        );
    }

    #[test]
    fn routes_by_verb() {
        let (start, _) = found("POST", "/api/v1/namespaces/default/workflows/w1");
        assert!(start.ends_with("/StartWorkflowExecution"));
        let (describe, _) = found("GET", "/api/v1/namespaces/default/workflows/w1");
        assert!(describe.ends_with("/DescribeWorkflowExecution"));
        assert!(matches!(
            find("DELETE", "/api/v1/namespaces/default/workflows/w1"),
            RouteMatch::WrongVerb
        ));
        assert!(matches!(
            find("GET", "/api/v1/nowhere"),
            RouteMatch::NotFound
        ));
    }

    #[test]
    fn every_binding_has_a_verb_and_an_absolute_template() {
        assert!(HTTP_ROUTES.len() > 100);
        for route in HTTP_ROUTES {
            assert!(["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&route.verb));
            assert!(route.pattern.starts_with('/'), "{route:?}");
        }
    }
}
