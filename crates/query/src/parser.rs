//! Recursive-descent parser for the list filter.
//!
//! Temporal wraps the user's string as `select * from t where <filter>` and hands it to its
//! MySQL-flavoured SQL parser (`temporalio/sqlparser`, `sql.y`), then walks the tree in
//! `common/persistence/visibility/store/query/converter.go`. We accept the subset of that grammar
//! the converter can use, with the same precedence (`OR` < `AND` < `NOT` < predicates), and
//! reject what the converter would reject (values on the left, column-to-column comparisons,
//! functions, LIMIT) directly with a positioned error.

use crate::QueryError;
use crate::ast::{CompareOp, Condition, Expr, Ident, Literal, OrderBy, Predicate, Query, Value};
use crate::lexer::{Keyword, Token, TokenKind, tokenize};

/// Upstream stops at 200 levels of nested parentheses / NOT; the limit also bounds our recursion.
const MAX_NESTING: usize = 200;

/// Deepest expression tree accepted. Upstream's parser builds a binary node per `AND`/`OR`, so
/// a chain of n terms is n levels deep; it gives up at 995 terms ("max ast depth reached").
const MAX_AST_DEPTH: usize = 995;

/// The longest excerpt of the input quoted in a syntax error.
const NEAR_LIMIT: usize = 40;

pub(crate) fn parse(input: &str) -> Result<Query, QueryError> {
    let tokens = tokenize(input)?;
    let mut parser = Parser {
        src: input,
        tokens,
        idx: 0,
        depth: 0,
    };
    let query = parser.query()?;
    if query
        .filter
        .as_ref()
        .is_some_and(|f| ast_depth(f) > MAX_AST_DEPTH)
    {
        return Err(QueryError {
            message: "malformed SQL query: max ast depth reached".into(),
            position: None,
        });
    }
    Ok(query)
}

/// The depth of the binary tree upstream would build for `expr`: each extra operand of an
/// `AND`/`OR` chain is one more level. Recursion is bounded by [`MAX_NESTING`].
fn ast_depth(expr: &Expr) -> usize {
    match expr {
        Expr::And(items) | Expr::Or(items) => {
            items.len() - 1 + items.iter().map(ast_depth).max().unwrap_or(0)
        }
        Expr::Not(inner) => 1 + ast_depth(inner),
        Expr::Predicate(_) => 1,
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    idx: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // `tokenize` always ends with Eof and we never advance past it.
        &self.tokens[self.idx.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let tok = self.peek().clone();
        if tok.kind != TokenKind::Eof {
            self.idx += 1;
        }
        tok
    }

    fn peek_kw(&self, kw: Keyword) -> bool {
        self.peek().kind == TokenKind::Keyword(kw)
    }

    fn eat_kw(&mut self, kw: Keyword) -> bool {
        if self.peek_kw(kw) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        if &self.peek().kind == kind {
            self.advance();
            true
        } else {
            false
        }
    }

    /// A syntax error pointing at `tok`, worded like upstream's
    /// "syntax error at position N near 'x'".
    fn error_at(&self, tok: &Token, what: &str) -> QueryError {
        if tok.kind == TokenKind::Eof {
            return QueryError::syntax(
                format!("{what} at position {} (end of query)", tok.pos),
                tok.pos,
            );
        }
        let text = self.src.get(tok.pos..tok.end).unwrap_or("");
        let near: String = if text.chars().count() > NEAR_LIMIT {
            text.chars().take(NEAR_LIMIT).chain("...".chars()).collect()
        } else {
            text.to_string()
        };
        QueryError::syntax(
            format!("{what} at position {} near '{near}'", tok.pos),
            tok.pos,
        )
    }

    fn enter(&mut self, tok: &Token) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error_at(tok, "max nesting level reached"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn at_clause_start(&self) -> bool {
        matches!(
            self.peek().kind,
            TokenKind::Keyword(Keyword::Order | Keyword::Group | Keyword::Having | Keyword::Limit)
        )
    }

    fn query(&mut self) -> Result<Query, QueryError> {
        let mut query = Query::default();
        if !self.at_clause_start()
            && !matches!(self.peek().kind, TokenKind::Eof | TokenKind::Semicolon)
        {
            query.filter = Some(self.or_expr()?);
        }
        if self.eat_kw(Keyword::Group) {
            self.expect_by()?;
            loop {
                query
                    .group_by
                    .push(self.ident("expected a search attribute name")?);
                if !self.eat(&TokenKind::Comma) {
                    break;
                }
            }
        }
        if self.peek_kw(Keyword::Having) {
            let pos = self.peek().pos;
            return Err(QueryError::at(
                "operation is not supported: 'HAVING' clause",
                pos,
            ));
        }
        if self.eat_kw(Keyword::Order) {
            self.expect_by()?;
            loop {
                let attribute = self.ident("expected a search attribute name")?;
                let descending = if self.eat_kw(Keyword::Desc) {
                    true
                } else {
                    self.eat_kw(Keyword::Asc);
                    false
                };
                query.order_by.push(OrderBy {
                    attribute,
                    descending,
                });
                if !self.eat(&TokenKind::Comma) {
                    break;
                }
            }
        }
        if self.peek_kw(Keyword::Limit) {
            let pos = self.peek().pos;
            return Err(QueryError::at(
                "operation is not supported: 'LIMIT' clause",
                pos,
            ));
        }
        self.eat(&TokenKind::Semicolon);
        let tok = self.peek().clone();
        if tok.kind != TokenKind::Eof {
            let what = if query.filter.is_some() {
                "syntax error: expected AND, OR, GROUP BY, ORDER BY or end of query"
            } else {
                "syntax error: unexpected token"
            };
            return Err(self.error_at(&tok, what));
        }
        Ok(query)
    }

    fn expect_by(&mut self) -> Result<(), QueryError> {
        if self.eat_kw(Keyword::By) {
            Ok(())
        } else {
            let tok = self.peek().clone();
            Err(self.error_at(&tok, "syntax error: expected BY"))
        }
    }

    fn ident(&mut self, what: &str) -> Result<Ident, QueryError> {
        let tok = self.peek().clone();
        match tok.kind {
            TokenKind::Ident(name) | TokenKind::QuotedIdent(name) => {
                self.advance();
                Ok(Ident {
                    name,
                    position: tok.pos,
                })
            }
            _ => Err(self.error_at(&tok, &format!("syntax error: {what}"))),
        }
    }

    fn or_expr(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and_expr()?];
        while self.eat_kw(Keyword::Or) {
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.not_expr()?];
        while self.eat_kw(Keyword::And) {
            items.push(self.not_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not_expr(&mut self) -> Result<Expr, QueryError> {
        if self.peek_kw(Keyword::Not) {
            let tok = self.advance();
            self.enter(&tok)?;
            let inner = self.not_expr()?;
            self.leave();
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        if self.peek().kind == TokenKind::LParen {
            let open = self.advance();
            self.enter(&open)?;
            let inner = self.or_expr()?;
            if !self.eat(&TokenKind::RParen) {
                let tok = self.peek().clone();
                return Err(self.error_at(&tok, "syntax error: expected ')'"));
            }
            self.leave();
            return Ok(inner);
        }
        self.predicate().map(Expr::Predicate)
    }

    fn predicate(&mut self) -> Result<Predicate, QueryError> {
        let tok = self.peek().clone();
        let attribute = match &tok.kind {
            TokenKind::Ident(name) | TokenKind::QuotedIdent(name) => Ident {
                name: name.clone(),
                position: tok.pos,
            },
            TokenKind::Str(_)
            | TokenKind::Number(_)
            | TokenKind::Minus
            | TokenKind::Plus
            | TokenKind::Keyword(Keyword::True | Keyword::False | Keyword::Null) => {
                let text = self.src.get(tok.pos..tok.end).unwrap_or("");
                return Err(QueryError::at(
                    format!(
                        "invalid expression: the left side of a condition must be a search \
                         attribute name, found value {text}"
                    ),
                    tok.pos,
                ));
            }
            _ => return Err(self.error_at(&tok, "syntax error: expected a condition")),
        };
        self.advance();

        let op_tok = self.peek().clone();
        let condition = match &op_tok.kind {
            TokenKind::LParen => {
                return Err(QueryError::at(
                    "operation is not supported: function expression",
                    attribute.position,
                ));
            }
            TokenKind::Eq
            | TokenKind::Ne
            | TokenKind::Lt
            | TokenKind::Le
            | TokenKind::Gt
            | TokenKind::Ge => {
                self.advance();
                let op = match op_tok.kind {
                    TokenKind::Eq => CompareOp::Eq,
                    TokenKind::Ne => CompareOp::Ne,
                    TokenKind::Lt => CompareOp::Lt,
                    TokenKind::Le => CompareOp::Le,
                    TokenKind::Gt => CompareOp::Gt,
                    _ => CompareOp::Ge,
                };
                Condition::Compare {
                    op,
                    value: self.value()?,
                }
            }
            TokenKind::NullSafeEq => {
                self.advance();
                self.value()?;
                Condition::Unsupported {
                    operator: "<=>".into(),
                    position: op_tok.pos,
                }
            }
            TokenKind::Keyword(Keyword::Not) => {
                self.advance();
                let next = self.peek().clone();
                match next.kind {
                    TokenKind::Keyword(Keyword::In) => {
                        self.advance();
                        Condition::In {
                            negated: true,
                            values: self.tuple()?,
                        }
                    }
                    TokenKind::Keyword(Keyword::Between) => {
                        self.advance();
                        self.between(true)?
                    }
                    TokenKind::Keyword(Keyword::StartsWith) => {
                        self.advance();
                        Condition::StartsWith {
                            negated: true,
                            prefix: self.value()?,
                        }
                    }
                    TokenKind::Keyword(kw @ (Keyword::Like | Keyword::Regexp)) => {
                        self.advance();
                        self.unsupported_operand(kw)?;
                        Condition::Unsupported {
                            operator: format!("NOT {}", keyword_name(kw)),
                            position: op_tok.pos,
                        }
                    }
                    _ => {
                        return Err(self.error_at(
                            &next,
                            "syntax error: expected IN, BETWEEN or STARTS_WITH after NOT",
                        ));
                    }
                }
            }
            TokenKind::Keyword(Keyword::In) => {
                self.advance();
                Condition::In {
                    negated: false,
                    values: self.tuple()?,
                }
            }
            TokenKind::Keyword(Keyword::Between) => {
                self.advance();
                self.between(false)?
            }
            TokenKind::Keyword(Keyword::StartsWith) => {
                self.advance();
                Condition::StartsWith {
                    negated: false,
                    prefix: self.value()?,
                }
            }
            TokenKind::Keyword(kw @ (Keyword::Like | Keyword::Regexp)) => {
                let kw = *kw;
                self.advance();
                self.unsupported_operand(kw)?;
                Condition::Unsupported {
                    operator: keyword_name(kw).into(),
                    position: op_tok.pos,
                }
            }
            TokenKind::Keyword(Keyword::Is) => {
                self.advance();
                let negated = self.eat_kw(Keyword::Not);
                let next = self.peek().clone();
                match next.kind {
                    TokenKind::Keyword(Keyword::Null) => {
                        self.advance();
                        Condition::IsNull { negated }
                    }
                    TokenKind::Keyword(Keyword::True | Keyword::False) => {
                        return Err(QueryError::at(
                            "invalid expression: 'IS' operator can only be used as 'IS NULL' or \
                             'IS NOT NULL'",
                            op_tok.pos,
                        ));
                    }
                    _ => return Err(self.error_at(&next, "syntax error: expected NULL")),
                }
            }
            TokenKind::Keyword(Keyword::And | Keyword::Or)
            | TokenKind::RParen
            | TokenKind::Eof
            | TokenKind::Semicolon
            | TokenKind::Keyword(Keyword::Order | Keyword::Group | Keyword::Limit) => {
                return Err(QueryError::at(
                    format!(
                        "invalid expression: incomplete expression: search attribute '{}' is not \
                         compared to anything",
                        attribute.name
                    ),
                    attribute.position,
                ));
            }
            _ => {
                return Err(self.error_at(&op_tok, "syntax error: expected an operator"));
            }
        };
        Ok(Predicate {
            attribute,
            condition,
        })
    }

    /// The right-hand side of LIKE / REGEXP: parsed so the error can name the operator, then dropped.
    fn unsupported_operand(&mut self, kw: Keyword) -> Result<(), QueryError> {
        self.value()?;
        if kw == Keyword::Like && self.eat_kw(Keyword::Escape) {
            self.value()?;
        }
        Ok(())
    }

    fn between(&mut self, negated: bool) -> Result<Condition, QueryError> {
        let low = self.value()?;
        if !self.eat_kw(Keyword::And) {
            let tok = self.peek().clone();
            return Err(self.error_at(&tok, "syntax error: expected AND in BETWEEN"));
        }
        let high = self.value()?;
        Ok(Condition::Between { negated, low, high })
    }

    fn tuple(&mut self) -> Result<Vec<Literal>, QueryError> {
        if !self.eat(&TokenKind::LParen) {
            let tok = self.peek().clone();
            return Err(self.error_at(&tok, "syntax error: expected '(' after IN"));
        }
        let mut values = vec![self.value()?];
        while self.eat(&TokenKind::Comma) {
            values.push(self.value()?);
        }
        if !self.eat(&TokenKind::RParen) {
            let tok = self.peek().clone();
            return Err(self.error_at(&tok, "syntax error: expected ',' or ')'"));
        }
        Ok(values)
    }

    fn value(&mut self) -> Result<Literal, QueryError> {
        let tok = self.advance();
        let position = tok.pos;
        let value = match tok.kind {
            TokenKind::Str(s) => Value::Str(s),
            TokenKind::Number(text) => number(&text, false, position)?,
            TokenKind::Minus | TokenKind::Plus => {
                let negative = tok.kind == TokenKind::Minus;
                let next = self.advance();
                match next.kind {
                    TokenKind::Number(text) => number(&text, negative, position)?,
                    _ => return Err(self.error_at(&next, "syntax error: expected a number")),
                }
            }
            TokenKind::Keyword(Keyword::True) => Value::Bool(true),
            TokenKind::Keyword(Keyword::False) => Value::Bool(false),
            TokenKind::Keyword(Keyword::Null) => Value::Null,
            TokenKind::Ident(name) | TokenKind::QuotedIdent(name) => {
                // Upstream's wording: comparing two attributes is refused, and the usual cause
                // is a missing pair of quotes.
                return Err(QueryError::at(
                    format!(
                        "operation is not supported: column name on the right side of comparison \
                         expression (did you forget to quote '{name}'?)"
                    ),
                    position,
                ));
            }
            TokenKind::LParen => {
                return Err(QueryError::at(
                    "invalid expression: a list of values is only allowed after IN or NOT IN",
                    position,
                ));
            }
            _ => return Err(self.error_at(&tok, "syntax error: expected a value")),
        };
        Ok(Literal { value, position })
    }
}

fn keyword_name(kw: Keyword) -> &'static str {
    match kw {
        Keyword::Like => "LIKE",
        Keyword::Regexp => "REGEXP",
        _ => "?",
    }
}

/// Converts a numeric literal the way Temporal's `sqlquery.ParseValue` does: an integer if it
/// fits in i64, otherwise a float; non-finite results are refused.
fn number(text: &str, negative: bool, position: usize) -> Result<Value, QueryError> {
    let is_float = text.contains(['.', 'e', 'E']);
    let signed = if negative {
        format!("-{text}")
    } else {
        text.to_string()
    };
    if !is_float && let Ok(i) = signed.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    // Rust's float grammar wants digits on both sides of the point; the SQL one doesn't.
    let mut normalized = signed.replace(".e", ".0e").replace(".E", ".0E");
    if normalized.ends_with('.') {
        normalized.push('0');
    }
    if let Some(rest) = normalized.strip_prefix("-.") {
        normalized = format!("-0.{rest}");
    } else if normalized.starts_with('.') {
        normalized.insert(0, '0');
    }
    match normalized.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Value::Float(f)),
        _ => Err(QueryError::at(
            format!("invalid expression: unable to parse value {signed}"),
            position,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(value: Value, position: usize) -> Literal {
        Literal { value, position }
    }

    fn pred(name: &str, position: usize, condition: Condition) -> Expr {
        Expr::Predicate(Predicate {
            attribute: Ident {
                name: name.into(),
                position,
            },
            condition,
        })
    }

    #[test]
    fn empty_and_whitespace() {
        assert_eq!(parse("").expect("parse"), Query::default());
        assert_eq!(parse("  \n\t ").expect("parse"), Query::default());
        assert_eq!(
            parse(" -- only a comment").expect("parse"),
            Query::default()
        );
    }

    #[test]
    fn precedence_or_and_not() {
        let q = parse("a = 1 OR NOT b = 2 AND c = 3").expect("parse");
        let expected = Expr::Or(vec![
            pred(
                "a",
                0,
                Condition::Compare {
                    op: CompareOp::Eq,
                    value: lit(Value::Int(1), 4),
                },
            ),
            Expr::And(vec![
                Expr::Not(Box::new(pred(
                    "b",
                    13,
                    Condition::Compare {
                        op: CompareOp::Eq,
                        value: lit(Value::Int(2), 17),
                    },
                ))),
                pred(
                    "c",
                    23,
                    Condition::Compare {
                        op: CompareOp::Eq,
                        value: lit(Value::Int(3), 27),
                    },
                ),
            ]),
        ]);
        assert_eq!(q.filter, Some(expected));
    }

    #[test]
    fn numbers_signs_and_overflow() {
        let value = |src: &str| match parse(src).expect("parse").filter {
            Some(Expr::Predicate(Predicate {
                condition: Condition::Compare { value, .. },
                ..
            })) => value.value,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(value("a = -5"), Value::Int(-5));
        assert_eq!(value("a = + 5"), Value::Int(5));
        assert_eq!(value("a = -9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(
            value("a = 9223372036854775808"),
            Value::Float(9_223_372_036_854_775_808.0)
        );
        assert_eq!(value("a = 1.5"), Value::Float(1.5));
        assert_eq!(value("a = -.5"), Value::Float(-0.5));
        assert_eq!(value("a = 3."), Value::Float(3.0));
        assert_eq!(value("a = 1.e3"), Value::Float(1000.0));
        assert!(parse("a = 1e999").is_err());
    }

    #[test]
    fn order_and_group_clauses() {
        let q = parse("GROUP BY ExecutionStatus").expect("parse");
        assert_eq!(q.filter, None);
        assert_eq!(q.group_by.len(), 1);
        let q = parse("a = 'x' order by StartTime desc, `RunId` ASC;").expect("parse");
        assert!(q.filter.is_some());
        assert_eq!(q.order_by.len(), 2);
        assert!(q.order_by[0].descending);
        assert!(!q.order_by[1].descending);
        assert_eq!(q.order_by[1].attribute.name, "RunId");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}a = 1{}", "(".repeat(100_000), ")".repeat(100_000));
        let err = parse(&deep).expect_err("too deep");
        assert!(err.message.contains("max nesting level"), "{err}");
        let nots = format!("{}a = 1", "NOT ".repeat(100_000));
        assert!(parse(&nots).is_err());
        let fine = format!("{}a = 1{}", "(".repeat(150), ")".repeat(150));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn long_chains_stay_flat() {
        let chain = vec!["a = 1"; 995].join(" AND ");
        match parse(&chain).expect("parse").filter {
            Some(Expr::And(items)) => assert_eq!(items.len(), 995),
            other => panic!("unexpected {other:?}"),
        }
        assert!(parse(&vec!["a = 1"; 50_000].join(" AND ")).is_err());
    }
}
