//! Search attribute catalogue: types, the built-in attributes Temporal defines, and how a name
//! in a query resolves to one of them or to a caller-defined custom attribute.
//!
//! Source of truth: `common/searchattribute/sadefs/constants.go` (system, predefined,
//! predefined-whitelist and reserved names) and the alias fallbacks in
//! `common/persistence/visibility/store/query/converter.go` (`resolveSearchAttributeAlias`).

use std::fmt;

/// A search attribute's value type, named as Temporal's `IndexedValueType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttributeType {
    Keyword,
    Text,
    Int,
    Double,
    Bool,
    Datetime,
    KeywordList,
}

impl AttributeType {
    pub const ALL: [AttributeType; 7] = [
        AttributeType::Text,
        AttributeType::Keyword,
        AttributeType::Int,
        AttributeType::Double,
        AttributeType::Bool,
        AttributeType::Datetime,
        AttributeType::KeywordList,
    ];

    /// Temporal's short name (`IndexedValueType.String()`), e.g. `"KeywordList"`.
    pub fn name(self) -> &'static str {
        match self {
            AttributeType::Keyword => "Keyword",
            AttributeType::Text => "Text",
            AttributeType::Int => "Int",
            AttributeType::Double => "Double",
            AttributeType::Bool => "Bool",
            AttributeType::Datetime => "Datetime",
            AttributeType::KeywordList => "KeywordList",
        }
    }

    /// The `temporal.api.enums.v1.IndexedValueType` number.
    pub fn to_proto(self) -> i32 {
        match self {
            AttributeType::Text => 1,
            AttributeType::Keyword => 2,
            AttributeType::Int => 3,
            AttributeType::Double => 4,
            AttributeType::Bool => 5,
            AttributeType::Datetime => 6,
            AttributeType::KeywordList => 7,
        }
    }

    /// Inverse of [`AttributeType::to_proto`]; `None` for UNSPECIFIED and unknown numbers.
    pub fn from_proto(value: i32) -> Option<AttributeType> {
        AttributeType::ALL
            .into_iter()
            .find(|t| t.to_proto() == value)
    }

    /// Accepts the short name (`Keyword`) or the proto name (`INDEXED_VALUE_TYPE_KEYWORD`).
    pub fn from_name(name: &str) -> Option<AttributeType> {
        AttributeType::ALL.into_iter().find(|t| {
            t.name() == name
                || name
                    .strip_prefix("INDEXED_VALUE_TYPE_")
                    .is_some_and(|rest| rest.replace('_', "").eq_ignore_ascii_case(t.name()))
        })
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// System attributes: stored as their own columns of the `visibility` table.
/// (Temporal types ExecutionStatus as Keyword; we store its enum number.)
const SYSTEM: &[(&str, AttributeType, &str)] = &[
    ("WorkflowId", AttributeType::Keyword, "workflow_id"),
    ("RunId", AttributeType::Keyword, "run_id"),
    ("WorkflowType", AttributeType::Keyword, "workflow_type"),
    ("StartTime", AttributeType::Datetime, "start_time"),
    ("ExecutionTime", AttributeType::Datetime, "execution_time"),
    ("CloseTime", AttributeType::Datetime, "close_time"),
    ("ExecutionStatus", AttributeType::Keyword, "status"),
    ("TaskQueue", AttributeType::Keyword, "task_queue"),
    ("HistoryLength", AttributeType::Int, "history_length"),
    (
        "ExecutionDuration",
        AttributeType::Int,
        "execution_duration",
    ),
    (
        "StateTransitionCount",
        AttributeType::Int,
        "state_transition_count",
    ),
    ("HistorySizeBytes", AttributeType::Int, "history_size_bytes"),
    (
        "ParentWorkflowId",
        AttributeType::Keyword,
        "parent_workflow_id",
    ),
    ("ParentRunId", AttributeType::Keyword, "parent_run_id"),
    ("RootWorkflowId", AttributeType::Keyword, "root_workflow_id"),
    ("RootRunId", AttributeType::Keyword, "root_run_id"),
];

/// Predefined attributes: Temporal-defined, but stored in the `search_attributes` JSON like
/// custom ones. The flag says whether users may set them (Temporal's `predefinedWhiteList`);
/// the others are written only by the server itself.
const PREDEFINED: &[(&str, AttributeType, bool)] = &[
    ("TemporalChangeVersion", AttributeType::KeywordList, true),
    ("BinaryChecksums", AttributeType::KeywordList, true),
    ("BuildIds", AttributeType::KeywordList, true),
    ("BatcherNamespace", AttributeType::Keyword, true),
    ("BatcherUser", AttributeType::Keyword, true),
    ("TemporalScheduledStartTime", AttributeType::Datetime, true),
    ("TemporalScheduledById", AttributeType::Keyword, true),
    ("TemporalSchedulePaused", AttributeType::Bool, true),
    ("TemporalNamespaceDivision", AttributeType::Keyword, true),
    ("TemporalPauseInfo", AttributeType::KeywordList, true),
    ("TemporalReportedProblems", AttributeType::KeywordList, true),
    (
        "TemporalWorkerDeploymentVersion",
        AttributeType::Keyword,
        false,
    ),
    (
        "TemporalWorkflowVersioningBehavior",
        AttributeType::Keyword,
        false,
    ),
    ("TemporalWorkerDeployment", AttributeType::Keyword, false),
    (
        "TemporalUsedWorkerDeploymentVersions",
        AttributeType::KeywordList,
        false,
    ),
    ("TemporalExternalPayloadCount", AttributeType::Int, false),
    (
        "TemporalExternalPayloadSizeBytes",
        AttributeType::Int,
        false,
    ),
];

/// Field names that are neither system nor predefined but still may not name a custom attribute.
const RESERVED: &[&str] = &["NamespaceId", "Memo", "MemoEncoding", "VisibilityTaskKey"];

const RESERVED_PREFIX: &str = "Temporal";

/// Temporal lets `ScheduleId` stand for WorkflowId (a schedule's workflow id) unless the
/// namespace defines a custom attribute of that name.
const SCHEDULE_ID: &str = "ScheduleId";

pub(crate) const NAMESPACE_DIVISION: &str = "TemporalNamespaceDivision";

/// System attributes (each backed by its own `visibility` column) with their types, in
/// Temporal's order.
pub fn system_attributes() -> impl Iterator<Item = (&'static str, AttributeType)> {
    SYSTEM.iter().map(|&(name, ty, _)| (name, ty))
}

/// Predefined attributes (stored in the `search_attributes` JSON) with their types.
pub fn predefined_attributes() -> impl Iterator<Item = (&'static str, AttributeType)> {
    PREDEFINED.iter().map(|&(name, ty, _)| (name, ty))
}

/// The `visibility` column backing a system attribute.
pub fn system_attribute_column(name: &str) -> Option<&'static str> {
    SYSTEM
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, _, col)| col)
}

/// The type of a system or predefined attribute.
pub fn builtin_attribute_type(name: &str) -> Option<AttributeType> {
    SYSTEM
        .iter()
        .map(|&(n, ty, _)| (n, ty))
        .chain(predefined_attributes())
        .find(|(n, _)| *n == name)
        .map(|(_, ty)| ty)
}

/// Whether a workflow may set this predefined attribute itself (Temporal's whitelist; the
/// rest are server-maintained).
pub fn is_user_settable_predefined(name: &str) -> bool {
    PREDEFINED.iter().any(|&(n, _, ok)| n == name && ok)
}

/// Whether `name` may not be registered as a custom attribute: system, predefined, internal
/// field names, and anything starting with `Temporal` (`sadefs.IsReserved`).
pub fn is_reserved_attribute_name(name: &str) -> bool {
    builtin_attribute_type(name).is_some()
        || RESERVED.contains(&name)
        || name.starts_with(RESERVED_PREFIX)
}

/// Where an attribute's value lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Storage {
    Column(&'static str),
    /// A key of the `search_attributes` JSON object.
    Json(String),
}

/// Attributes whose values need more than the generic per-type conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    None,
    ExecutionStatus,
    ExecutionDuration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The canonical name (what it resolved to; the JSON key for non-column attributes).
    pub field: String,
    pub ty: AttributeType,
    pub storage: Storage,
    pub special: Special,
}

fn builtin(name: &str) -> Option<Resolved> {
    if let Some(&(field, ty, column)) = SYSTEM.iter().find(|(n, _, _)| *n == name) {
        let special = match field {
            "ExecutionStatus" => Special::ExecutionStatus,
            "ExecutionDuration" => Special::ExecutionDuration,
            _ => Special::None,
        };
        return Some(Resolved {
            field: field.to_string(),
            ty,
            storage: Storage::Column(column),
            special,
        });
    }
    PREDEFINED
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(field, ty, _)| Resolved {
            field: field.to_string(),
            ty,
            storage: Storage::Json(field.to_string()),
            special: Special::None,
        })
}

/// Resolves a name as written in a query, in Temporal's order: a custom attribute (unless the
/// name is a built-in one), then a built-in, then the `ScheduleId` alias, then the name with the
/// `Temporal` prefix removed or added (so `ChangeVersion` finds `TemporalChangeVersion`).
pub(crate) fn resolve(
    name: &str,
    custom: &dyn Fn(&str) -> Option<AttributeType>,
) -> Option<Resolved> {
    if builtin_attribute_type(name).is_none()
        && let Some(ty) = custom(name)
    {
        return Some(Resolved {
            field: name.to_string(),
            ty,
            storage: Storage::Json(name.to_string()),
            special: Special::None,
        });
    }
    if let Some(found) = builtin(name) {
        return Some(found);
    }
    let unprefixed = name.strip_prefix(RESERVED_PREFIX);
    if unprefixed.unwrap_or(name) == SCHEDULE_ID {
        return builtin("WorkflowId");
    }
    match unprefixed {
        Some(stripped) => builtin(stripped),
        None => builtin(&format!("{RESERVED_PREFIX}{name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_custom(_: &str) -> Option<AttributeType> {
        None
    }

    #[test]
    fn type_names_and_proto_numbers_round_trip() {
        for ty in AttributeType::ALL {
            assert_eq!(AttributeType::from_proto(ty.to_proto()), Some(ty));
            assert_eq!(AttributeType::from_name(ty.name()), Some(ty));
        }
        assert_eq!(
            AttributeType::from_name("INDEXED_VALUE_TYPE_KEYWORD_LIST"),
            Some(AttributeType::KeywordList)
        );
        assert_eq!(AttributeType::from_proto(0), None);
        assert_eq!(AttributeType::from_name("keyword"), None);
    }

    #[test]
    fn catalogue_matches_temporal() {
        assert_eq!(system_attributes().count(), 16);
        assert_eq!(predefined_attributes().count(), 17);
        assert_eq!(
            builtin_attribute_type("ExecutionStatus"),
            Some(AttributeType::Keyword)
        );
        assert_eq!(
            builtin_attribute_type("TemporalSchedulePaused"),
            Some(AttributeType::Bool)
        );
        assert_eq!(
            system_attribute_column("WorkflowType"),
            Some("workflow_type")
        );
        assert!(is_user_settable_predefined("BuildIds"));
        assert!(!is_user_settable_predefined("TemporalWorkerDeployment"));
        assert!(is_reserved_attribute_name("TemporalAnything"));
        assert!(is_reserved_attribute_name("Memo"));
        assert!(!is_reserved_attribute_name("CustomKeywordField"));
    }

    #[test]
    fn resolution_order_and_aliases() {
        let custom = |n: &str| match n {
            "ScheduleId" => Some(AttributeType::Keyword),
            "WorkflowId" => Some(AttributeType::Int), // must never shadow a built-in
            "Foo" => Some(AttributeType::Text),
            _ => None,
        };
        assert_eq!(
            resolve("WorkflowId", &custom).map(|r| r.storage),
            Some(Storage::Column("workflow_id"))
        );
        assert_eq!(
            resolve("ScheduleId", &custom).map(|r| r.storage),
            Some(Storage::Json("ScheduleId".into()))
        );
        assert_eq!(
            resolve("ScheduleId", &no_custom).map(|r| r.field),
            Some("WorkflowId".into())
        );
        assert_eq!(
            resolve("TemporalScheduleId", &no_custom).map(|r| r.field),
            Some("WorkflowId".into())
        );
        assert_eq!(
            resolve("ChangeVersion", &no_custom).map(|r| r.field),
            Some("TemporalChangeVersion".into())
        );
        assert_eq!(
            resolve("TemporalRunId", &no_custom).map(|r| r.field),
            Some("RunId".into())
        );
        assert_eq!(resolve("TemporalFoo", &custom), None);
        assert_eq!(resolve("workflowid", &no_custom), None);
    }
}
