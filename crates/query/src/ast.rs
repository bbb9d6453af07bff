//! Syntax tree produced by [`crate::parse`]. It records what was written, with byte positions,
//! and knows nothing about attribute types; [`crate::compile`] gives it meaning.

/// A parsed list filter: `[condition] [GROUP BY attr] [ORDER BY attr [ASC|DESC], ...]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// The condition; `None` for an empty filter (or one with only GROUP BY / ORDER BY).
    pub filter: Option<Expr>,
    pub group_by: Vec<Ident>,
    pub order_by: Vec<OrderBy>,
}

/// A boolean expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Two or more operands joined by `AND`.
    And(Vec<Expr>),
    /// Two or more operands joined by `OR`.
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Predicate(Predicate),
}

/// A search attribute name as written (backticks removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    /// Byte offset in the query string.
    pub position: usize,
}

/// One condition on one attribute, e.g. `WorkflowType = 'Order'`.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    pub attribute: Ident,
    pub condition: Condition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    /// The operator as Temporal spells it in messages and as SQL spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Compare {
        op: CompareOp,
        value: Literal,
    },
    In {
        negated: bool,
        values: Vec<Literal>,
    },
    Between {
        negated: bool,
        low: Literal,
        high: Literal,
    },
    StartsWith {
        negated: bool,
        prefix: Literal,
    },
    IsNull {
        negated: bool,
    },
    /// Syntax the SQL grammar has but Temporal refuses (`LIKE`, `REGEXP`, `<=>`). Kept so the
    /// compiler can report it with the attribute's type, the way Temporal words it.
    Unsupported {
        operator: String,
        position: usize,
    },
}

/// A literal value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    pub value: Value,
    pub position: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    /// An integer literal that fits in i64 (larger ones become `Float`, as upstream does).
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    pub attribute: Ident,
    pub descending: bool,
}
