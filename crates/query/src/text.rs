//! Full-text matching for `Text` attributes.
//!
//! Temporal's SQLite store turns `TextAttr = 'foo bar'` into an FTS5 query
//! `TextAttr : ("foo" OR "bar")` (`common/persistence/sql/sqlplugin/sqlite/query_converter.go`),
//! splitting the value on spaces; PostgreSQL joins the same terms with `|` and Elasticsearch
//! uses a `match` query, which is also OR. Each space-separated term is an FTS phrase, which the
//! `unicode61` tokenizer splits into words at punctuation and matches case-insensitively. We
//! reproduce that without FTS: the store registers [`text_matches`] as a SQL function.

/// Name of the SQL function the compiled query calls for `Text` comparisons. A SQLite store
/// must register [`text_matches`] under it (deterministic, two text arguments, returns 0/1); for
/// PostgreSQL, [`crate::POSTGRES_SETUP_SQL`] defines it.
pub const TEXT_MATCH_FUNCTION: &str = "temper_text_match";

/// Lower-cased words of `s`: maximal runs of alphanumeric characters.
fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// True when any space-separated term of `query` occurs in `field`: a term's words must appear
/// consecutively (phrase match), compared case-insensitively, words being runs of letters and
/// digits. A term with no words (only punctuation) matches nothing, as does an empty query.
pub fn text_matches(field: &str, query: &str) -> bool {
    let field_words: Vec<String> = words(field).collect();
    if field_words.is_empty() {
        return false;
    }
    query.split(' ').any(|term| {
        let phrase: Vec<String> = words(term).collect();
        !phrase.is_empty()
            && phrase.len() <= field_words.len()
            && field_words
                .windows(phrase.len())
                .any(|window| window == phrase.as_slice())
    })
}

/// Whether a Text value yields at least one search term (Temporal refuses values that don't).
pub(crate) fn has_terms(query: &str) -> bool {
    query.split(' ').any(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_term_matches_case_insensitively() {
        assert!(text_matches("The quick brown fox", "QUICK"));
        assert!(text_matches("The quick brown fox", "slow fox"));
        assert!(!text_matches("The quick brown fox", "slow cat"));
        assert!(!text_matches("The quick brown fox", "qui"));
        assert!(text_matches("Ünïcode ÉTÉ", "été"));
    }

    #[test]
    fn punctuation_splits_words_and_terms_are_phrases() {
        assert!(text_matches("order-1234 failed: timeout", "timeout"));
        assert!(text_matches("order-1234 failed: timeout", "ORDER-1234"));
        assert!(text_matches("order 1234", "order-1234"));
        assert!(!text_matches("1234 order", "order-1234"));
        assert!(!text_matches("anything", "!!"));
        assert!(!text_matches("anything", ""));
        assert!(!text_matches("", "anything"));
    }

    #[test]
    fn term_detection() {
        assert!(has_terms("a"));
        assert!(has_terms(" !! "));
        assert!(!has_terms("   "));
        assert!(!has_terms(""));
    }
}
