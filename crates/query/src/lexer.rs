//! Tokenizer for the list-filter language.
//!
//! It follows the lexical rules of the MySQL-flavoured parser Temporal uses
//! (`github.com/temporalio/sqlparser`, `token.go`): single- and double-quoted strings with
//! doubled-quote and backslash escapes, backtick-quoted identifiers, `--`/`#`/`//`/`/* */`
//! comments, and ASCII-only bare identifiers. Positions are byte offsets into the input.

use crate::QueryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    And,
    Or,
    Not,
    In,
    Between,
    Is,
    Null,
    True,
    False,
    StartsWith,
    Like,
    Regexp,
    Escape,
    Order,
    Group,
    By,
    Asc,
    Desc,
    Limit,
    Having,
}

impl Keyword {
    fn from_word(word: &str) -> Option<Keyword> {
        // Keywords are case-insensitive; identifiers are not, so only the keyword check lowercases.
        let kw = match word.to_ascii_lowercase().as_str() {
            "and" => Keyword::And,
            "or" => Keyword::Or,
            "not" => Keyword::Not,
            "in" => Keyword::In,
            "between" => Keyword::Between,
            "is" => Keyword::Is,
            "null" => Keyword::Null,
            "true" => Keyword::True,
            "false" => Keyword::False,
            "starts_with" => Keyword::StartsWith,
            "like" => Keyword::Like,
            "regexp" | "rlike" => Keyword::Regexp,
            "escape" => Keyword::Escape,
            "order" => Keyword::Order,
            "group" => Keyword::Group,
            "by" => Keyword::By,
            "asc" => Keyword::Asc,
            "desc" => Keyword::Desc,
            "limit" => Keyword::Limit,
            "having" => Keyword::Having,
            _ => return None,
        };
        Some(kw)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// Bare identifier (never a keyword).
    Ident(String),
    /// Backtick-quoted identifier, already unescaped.
    QuotedIdent(String),
    /// String literal, already unescaped.
    Str(String),
    /// Numeric literal as written (digits, optional fraction and exponent, no sign).
    Number(String),
    Keyword(Keyword),
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    NullSafeEq,
    LParen,
    RParen,
    Comma,
    Minus,
    Plus,
    Semicolon,
    /// Any other single punctuation character the grammar has no use for (`*`, `.`, ...).
    Other(char),
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// Byte offset of the first character.
    pub pos: usize,
    /// Byte offset one past the last character.
    pub end: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '@'
}

fn is_ident_char(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit()
}

fn lex_error(what: &str, pos: usize) -> QueryError {
    QueryError::syntax(format!("{what} at position {pos}"), pos)
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, skip: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(skip)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Skips blanks and comments. The upstream tokenizer only treats space, tab, CR and LF as
    /// blanks; anything else outside a literal is an error.
    fn skip_trivia(&mut self) -> Result<(), QueryError> {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\n') => {
                    self.bump();
                }
                Some('#') => self.skip_line(),
                Some('-') if self.peek_at(1) == Some('-') => self.skip_line(),
                Some('/') if self.peek_at(1) == Some('/') => self.skip_line(),
                Some('/') if self.peek_at(1) == Some('*') => {
                    let start = self.pos;
                    self.pos += 2;
                    match self.src[self.pos..].find("*/") {
                        Some(off) => self.pos += off + 2,
                        None => return Err(lex_error("unterminated comment", start)),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn skip_line(&mut self) {
        match self.src[self.pos..].find('\n') {
            Some(off) => self.pos += off + 1,
            None => self.pos = self.src.len(),
        }
    }

    fn next_token(&mut self) -> Result<Token, QueryError> {
        self.skip_trivia()?;
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Ok(Token {
                kind: TokenKind::Eof,
                pos: start,
                end: start,
            });
        };
        let kind = match c {
            '\'' | '"' => TokenKind::Str(self.string(c, start)?),
            '`' => TokenKind::QuotedIdent(self.quoted_ident(start)?),
            '0'..='9' => TokenKind::Number(self.number(start)?),
            '.' if self.peek().is_some_and(|d| d.is_ascii_digit()) => {
                TokenKind::Number(self.number(start)?)
            }
            c if is_ident_start(c) => {
                if matches!(c, 'x' | 'X' | 'b' | 'B') && self.peek() == Some('\'') {
                    return Err(lex_error(
                        "hexadecimal and bit literals are not supported",
                        start,
                    ));
                }
                while self.peek().is_some_and(is_ident_char) {
                    self.bump();
                }
                let word = &self.src[start..self.pos];
                match Keyword::from_word(word) {
                    Some(kw) => TokenKind::Keyword(kw),
                    None => TokenKind::Ident(word.to_string()),
                }
            }
            '=' => TokenKind::Eq,
            '!' if self.eat('=') => TokenKind::Ne,
            '<' => {
                if self.eat('>') {
                    TokenKind::Ne
                } else if self.eat('=') {
                    if self.eat('>') {
                        TokenKind::NullSafeEq
                    } else {
                        TokenKind::Le
                    }
                } else {
                    TokenKind::Lt
                }
            }
            '>' => {
                if self.eat('=') {
                    TokenKind::Ge
                } else {
                    TokenKind::Gt
                }
            }
            '&' if self.eat('&') => TokenKind::Keyword(Keyword::And),
            '|' if self.eat('|') => TokenKind::Keyword(Keyword::Or),
            '(' => TokenKind::LParen,
            ')' => TokenKind::RParen,
            ',' => TokenKind::Comma,
            '-' => TokenKind::Minus,
            '+' => TokenKind::Plus,
            ';' => TokenKind::Semicolon,
            c if c.is_ascii_punctuation() => TokenKind::Other(c),
            c => return Err(lex_error(&format!("unexpected character {c:?}"), start)),
        };
        Ok(Token {
            kind,
            pos: start,
            end: self.pos,
        })
    }

    /// Reads a quoted string after its opening delimiter. A doubled delimiter stands for itself;
    /// a backslash escapes the next character with MySQL's meanings (`\n`, `\t`, `\0`, ...),
    /// any other escaped character is taken literally.
    fn string(&mut self, delim: char, start: usize) -> Result<String, QueryError> {
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(lex_error("unterminated string literal", start));
            };
            if c == delim {
                if self.eat(delim) {
                    out.push(delim);
                    continue;
                }
                return Ok(out);
            }
            if c == '\\' {
                let Some(e) = self.bump() else {
                    return Err(lex_error("unterminated string literal", start));
                };
                out.push(match e {
                    '0' => '\0',
                    'b' => '\u{8}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'Z' => '\u{1a}',
                    other => other,
                });
                continue;
            }
            out.push(c);
        }
    }

    /// Reads a backtick identifier after its opening backtick; a doubled backtick stands for one.
    fn quoted_ident(&mut self, start: usize) -> Result<String, QueryError> {
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(lex_error("unterminated quoted identifier", start));
            };
            if c == '`' {
                if self.eat('`') {
                    out.push('`');
                    continue;
                }
                if out.is_empty() {
                    return Err(lex_error("empty quoted identifier", start));
                }
                return Ok(out);
            }
            out.push(c);
        }
    }

    /// Reads a number whose first character (a digit or a `.` followed by a digit) was consumed.
    fn number(&mut self, start: usize) -> Result<String, QueryError> {
        let first = self.src[start..].chars().next();
        if first == Some('0') && matches!(self.peek(), Some('x' | 'X')) {
            return Err(lex_error("hexadecimal literals are not supported", start));
        }
        let digits = |lx: &mut Self| {
            let mut n = 0;
            while lx.peek().is_some_and(|d| d.is_ascii_digit()) {
                lx.bump();
                n += 1;
            }
            n
        };
        if first == Some('.') {
            digits(self);
        } else {
            digits(self);
            if self.eat('.') {
                digits(self);
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.bump();
            if !self.eat('+') {
                self.eat('-');
            }
            if digits(self) == 0 {
                return Err(lex_error("malformed number", start));
            }
        }
        // Like upstream, a letter glued to a number is an error rather than two tokens.
        if self.peek().is_some_and(is_ident_char) || self.peek() == Some('.') {
            return Err(lex_error("malformed number", start));
        }
        Ok(self.src[start..self.pos].to_string())
    }
}

/// Splits the whole input into tokens; the last one is always [`TokenKind::Eof`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, QueryError> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut out = Vec::new();
    loop {
        let tok = lexer.next_token()?;
        let done = tok.kind == TokenKind::Eof;
        out.push(tok);
        if done {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        tokenize(src)
            .expect("tokenize")
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn strings_unescape_like_mysql() {
        assert_eq!(
            kinds(r#"'it''s' "say ""hi""" 'a\'b\\c\nd\%'"#),
            vec![
                TokenKind::Str("it's".into()),
                TokenKind::Str("say \"hi\"".into()),
                TokenKind::Str("a'b\\c\nd%".into()),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn operators_and_keywords() {
        assert_eq!(
            kinds("a<>b != <= >= <=> && || and OR Not"),
            vec![
                TokenKind::Ident("a".into()),
                TokenKind::Ne,
                TokenKind::Ident("b".into()),
                TokenKind::Ne,
                TokenKind::Le,
                TokenKind::Ge,
                TokenKind::NullSafeEq,
                TokenKind::Keyword(Keyword::And),
                TokenKind::Keyword(Keyword::Or),
                TokenKind::Keyword(Keyword::And),
                TokenKind::Keyword(Keyword::Or),
                TokenKind::Keyword(Keyword::Not),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(
            kinds("1 2.5 .5 3. 1e10 2E-3"),
            vec![
                TokenKind::Number("1".into()),
                TokenKind::Number("2.5".into()),
                TokenKind::Number(".5".into()),
                TokenKind::Number("3.".into()),
                TokenKind::Number("1e10".into()),
                TokenKind::Number("2E-3".into()),
                TokenKind::Eof
            ]
        );
        assert!(tokenize("12abc").is_err());
        assert!(tokenize("0x1F").is_err());
        assert!(tokenize("1e").is_err());
        assert!(tokenize("1.2.3").is_err());
    }

    #[test]
    fn comments_and_quoted_identifiers() {
        assert_eq!(
            kinds("`Custom Attr` -- trailing\n/* block */ `a``b` # hash"),
            vec![
                TokenKind::QuotedIdent("Custom Attr".into()),
                TokenKind::QuotedIdent("a`b".into()),
                TokenKind::Eof
            ]
        );
        assert!(tokenize("``").is_err());
        assert!(tokenize("`open").is_err());
        assert!(tokenize("/* open").is_err());
    }

    #[test]
    fn errors_carry_positions() {
        let err = tokenize("WorkflowId = 'abc").expect_err("unterminated");
        assert_eq!(err.position, Some(13));
        let err = tokenize("a = é").expect_err("non-ascii");
        assert_eq!(err.position, Some(4));
    }
}
