//! Parsing: splits a query string into statements and parses each with `sqlparser`
//! (PostgreSQL dialect), except Freshet's own statements (`CREATE SOURCE ... FROM KINESIS`,
//! `SHOW SOURCES`, `SHOW CREATE SOURCE|MATERIALIZED VIEW`, `DROP SOURCE`, `SUBSCRIBE`), which are parsed here
//! with `sqlparser`'s parser helpers over the same tokens.
//!
//! This module only recognizes syntax; it must not consult the catalog or validate meaning
//! (ARNs, options, formats are checked by the planner).

use sqlparser::ast::ObjectName;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::catalog::ObjectKind;
use crate::plan::{CreateSourceStatement, FormatSpec};
use crate::{names, SqlError, Statement};

/// What replaces secret option values in SQL text kept for `SHOW CREATE` or logs.
pub const REDACTED: &str = "<redacted>";

/// WITH options of `CREATE SOURCE` whose values are secrets.
const SECRET_OPTIONS: &[&str] = &["secret_access_key", "token"];

/// Splits and parses a query string into statements. An empty string (or only `;`s and comments)
/// gives no statements.
pub fn parse(sql: &str) -> Result<Vec<Statement>, SqlError> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql).tokenize_with_location().map_err(|e| SqlError::Parse(e.to_string()))?;
    split_statements(tokens)
        .into_iter()
        .filter(|chunk| chunk.iter().any(|t| !is_whitespace(&t.token)))
        .map(|chunk| parse_one(&dialect, sql, chunk))
        .collect()
}

fn is_whitespace(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_))
}

/// Splits at top-level `;` tokens (semicolons inside strings or comments are not tokens).
fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut chunks = vec![Vec::new()];
    for token in tokens {
        if token.token == Token::SemiColon {
            chunks.push(Vec::new());
        } else if let Some(last) = chunks.last_mut() {
            last.push(token);
        }
    }
    chunks
}

fn parse_error(e: ParserError) -> SqlError {
    let message = match e {
        ParserError::TokenizerError(s) | ParserError::ParserError(s) => s,
        ParserError::RecursionLimitExceeded => "statement is too deeply nested".to_string(),
    };
    SqlError::Parse(message)
}

/// The extension statements, recognized by their leading words.
enum Extension {
    CreateSource,
    ShowObjects(ObjectKind),
    ShowCreate,
    DropSource,
    Subscribe,
    CopySubscribe,
}

fn parse_one(dialect: &PostgreSqlDialect, sql: &str, chunk: Vec<TokenWithSpan>) -> Result<Statement, SqlError> {
    let text = chunk_text(sql, &chunk);
    let mut parser = Parser::new(dialect).with_tokens_with_locations(chunk);
    let statement = match extension(&parser) {
        Some(Extension::CreateSource) => Statement::CreateSource(parse_create_source(&mut parser, text)?),
        Some(Extension::ShowObjects(kind)) => {
            // The words were already matched by `extension`.
            while parser.next_token().token != Token::EOF {}
            Statement::ShowObjects(kind)
        }
        Some(Extension::ShowCreate) => parse_show_create(&mut parser)?,
        Some(Extension::DropSource) => parse_drop_source(&mut parser)?,
        Some(Extension::Subscribe) => parse_subscribe(&mut parser)?,
        Some(Extension::CopySubscribe) => parse_copy_subscribe(&mut parser)?,
        None => Statement::Sql(Box::new(parser.parse_statement().map_err(parse_error)?)),
    };
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return parser.expected("end of statement", next).map_err(parse_error);
    }
    Ok(statement)
}

/// The upper-cased unquoted word `n` tokens ahead, if there is one.
fn word_at(parser: &Parser, n: usize) -> Option<String> {
    match parser.peek_nth_token(n).token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

fn extension(parser: &Parser) -> Option<Extension> {
    let words: Vec<Option<String>> = (0..4).map(|n| word_at(parser, n)).collect();
    let words: Vec<&str> = words.iter().map(|w| w.as_deref().unwrap_or("")).collect();
    let ends_at = |n: usize| parser.peek_nth_token(n).token == Token::EOF;
    match words.as_slice() {
        ["CREATE", "SOURCE", ..] => Some(Extension::CreateSource),
        ["DROP", "SOURCE", ..] => Some(Extension::DropSource),
        ["SHOW", "CREATE", ..] => Some(Extension::ShowCreate),
        ["SUBSCRIBE", ..] => Some(Extension::Subscribe),
        ["COPY", ..]
            if parser.peek_nth_token(1).token == Token::LParen
                && word_at(parser, 2).as_deref() == Some("SUBSCRIBE") =>
        {
            Some(Extension::CopySubscribe)
        }
        ["SHOW", "SOURCES", ..] if ends_at(2) => Some(Extension::ShowObjects(ObjectKind::Source)),
        ["SHOW", "TABLES", ..] if ends_at(2) => Some(Extension::ShowObjects(ObjectKind::Table)),
        ["SHOW", "VIEWS", ..] if ends_at(2) => Some(Extension::ShowObjects(ObjectKind::View)),
        ["SHOW", "MATERIALIZED", "VIEWS", ..] if ends_at(3) => {
            Some(Extension::ShowObjects(ObjectKind::MaterializedView))
        }
        _ => None,
    }
}

/// Consumes the unquoted word `word` (case-insensitive) or fails like sqlparser does.
fn expect_word(parser: &mut Parser, word: &str) -> Result<(), SqlError> {
    if parse_word(parser, word) {
        return Ok(());
    }
    parser.expected(word, parser.peek_token()).map_err(parse_error)
}

/// Consumes the unquoted word `word` if it is next.
fn parse_word(parser: &mut Parser, word: &str) -> bool {
    if word_at(parser, 0).is_some_and(|w| w.eq_ignore_ascii_case(word)) {
        parser.next_token();
        true
    } else {
        false
    }
}

/// A quoted string literal (not a bare word, unlike `Parser::parse_literal_string`).
fn expect_string(parser: &mut Parser) -> Result<String, SqlError> {
    let next = parser.next_token();
    match next.token {
        Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s) | Token::UnicodeStringLiteral(s) => Ok(s),
        Token::DollarQuotedString(s) => Ok(s.value),
        _ => parser.expected("a quoted string", next).map_err(parse_error),
    }
}

fn parse_name(parser: &mut Parser) -> Result<String, SqlError> {
    let name: ObjectName = parser.parse_object_name(false).map_err(parse_error)?;
    names::object_name(&name)
}

fn parse_create_source(parser: &mut Parser, text: String) -> Result<CreateSourceStatement, SqlError> {
    expect_word(parser, "CREATE")?;
    expect_word(parser, "SOURCE")?;
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parse_name(parser)?;
    let mut columns = Vec::new();
    if parser.consume_token(&Token::LParen) {
        columns = parser.parse_comma_separated(|p| p.parse_identifier()).map_err(parse_error)?;
        parser.expect_token(&Token::RParen).map_err(parse_error)?;
    }
    let columns = columns.iter().map(names::ident).collect();
    expect_word(parser, "FROM")?;
    expect_word(parser, "KINESIS")?;
    expect_word(parser, "ARN")?;
    let arn = expect_string(parser)?;
    let options = if parse_word(parser, "WITH") { parse_options(parser)? } else { Vec::new() };
    expect_word(parser, "FORMAT")?;
    let format = parse_format(parser)?;
    let envelope = if parse_word(parser, "ENVELOPE") {
        let found = ["NONE", "UPSERT", "DEBEZIUM"].into_iter().find(|w| parse_word(parser, w));
        match found {
            Some(envelope) => Some(envelope.to_string()),
            None => return parser.expected("NONE, UPSERT or DEBEZIUM", parser.peek_token()).map_err(parse_error),
        }
    } else {
        None
    };
    let progress_name = if parse_word(parser, "EXPOSE") {
        expect_word(parser, "PROGRESS")?;
        expect_word(parser, "AS")?;
        Some(parse_name(parser)?)
    } else {
        None
    };
    Ok(CreateSourceStatement { name, if_not_exists, columns, arn, options, format, envelope, progress_name, sql: text })
}

/// `( key [=] value, ... )` with lower-cased keys and values as written.
fn parse_options(parser: &mut Parser) -> Result<Vec<(String, String)>, SqlError> {
    parser.expect_token(&Token::LParen).map_err(parse_error)?;
    let mut options = Vec::new();
    loop {
        let key = parser.parse_identifier().map_err(parse_error)?.value.to_lowercase();
        // `key = value` and `key value` are both accepted.
        let _ = parser.consume_token(&Token::Eq);
        let next = parser.next_token();
        let value = match next.token {
            Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s) | Token::UnicodeStringLiteral(s) => s,
            Token::Number(n, _) => n,
            Token::Word(w) => w.value,
            _ => return parser.expected("an option value", next).map_err(parse_error),
        };
        options.push((key, value));
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen).map_err(parse_error)?;
    Ok(options)
}

fn parse_format(parser: &mut Parser) -> Result<FormatSpec, SqlError> {
    let format = if parse_word(parser, "BYTES") {
        FormatSpec::Bytes
    } else if parse_word(parser, "TEXT") {
        FormatSpec::Text
    } else if parse_word(parser, "JSON") {
        FormatSpec::Json
    } else if parse_word(parser, "CSV") {
        expect_word(parser, "WITH")?;
        let columns = parser.parse_literal_uint().map_err(parse_error)?;
        expect_word(parser, "COLUMNS")?;
        let columns = usize::try_from(columns).map_err(|_| SqlError::Parse("too many CSV columns".into()))?;
        FormatSpec::Csv { columns }
    } else if parse_word(parser, "REGEX") {
        FormatSpec::Regex { pattern: expect_string(parser)? }
    } else if parse_word(parser, "PROTOBUF") {
        expect_word(parser, "MESSAGE")?;
        let message = expect_string(parser)?;
        expect_word(parser, "USING")?;
        expect_word(parser, "SCHEMA")?;
        expect_word(parser, "FILE")?;
        FormatSpec::Protobuf { message, schema_file: expect_string(parser)? }
    } else {
        return parser
            .expected("one of BYTES, TEXT, JSON, CSV, REGEX or PROTOBUF", parser.peek_token())
            .map_err(parse_error);
    };
    Ok(format)
}

/// `SUBSCRIBE [TO] name | (query) [WITH (option [= value], ...)]`; a name stands for
/// `SELECT * FROM name`.
fn parse_subscribe(parser: &mut Parser) -> Result<Statement, SqlError> {
    expect_word(parser, "SUBSCRIBE")?;
    parse_word(parser, "TO");
    let query = if parser.consume_token(&Token::LParen) {
        let query = parser.parse_query().map_err(parse_error)?;
        parser.expect_token(&Token::RParen).map_err(parse_error)?;
        query
    } else {
        let name: ObjectName = parser.parse_object_name(false).map_err(parse_error)?;
        let select = format!("SELECT * FROM {name}");
        Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&select)
            .and_then(|mut p| p.parse_query())
            .map_err(parse_error)?
    };
    let options = if parse_word(parser, "WITH") { parse_options(parser)? } else { Vec::new() };
    Ok(Statement::Subscribe { query, options, copy: None })
}

/// `COPY (SUBSCRIBE ...) TO STDOUT [WITH (option [= value], ...)]`.
fn parse_copy_subscribe(parser: &mut Parser) -> Result<Statement, SqlError> {
    expect_word(parser, "COPY")?;
    parser.expect_token(&Token::LParen).map_err(parse_error)?;
    let Statement::Subscribe { query, options, .. } = parse_subscribe(parser)? else {
        return Err(SqlError::Parse("expected SUBSCRIBE".into()));
    };
    parser.expect_token(&Token::RParen).map_err(parse_error)?;
    expect_word(parser, "TO")?;
    expect_word(parser, "STDOUT")?;
    let copy = if parse_word(parser, "WITH") { parse_options(parser)? } else { Vec::new() };
    Ok(Statement::Subscribe { query, options, copy: Some(copy) })
}

fn parse_show_create(parser: &mut Parser) -> Result<Statement, SqlError> {
    expect_word(parser, "SHOW")?;
    expect_word(parser, "CREATE")?;
    let kind = if parse_word(parser, "TABLE") {
        ObjectKind::Table
    } else if parse_word(parser, "VIEW") {
        ObjectKind::View
    } else if parse_word(parser, "SOURCE") {
        ObjectKind::Source
    } else if parse_word(parser, "MATERIALIZED") {
        expect_word(parser, "VIEW")?;
        ObjectKind::MaterializedView
    } else {
        return parser.expected("TABLE, VIEW, MATERIALIZED VIEW or SOURCE", parser.peek_token()).map_err(parse_error);
    };
    Ok(Statement::ShowCreate { kind, name: parse_name(parser)? })
}

fn parse_drop_source(parser: &mut Parser) -> Result<Statement, SqlError> {
    expect_word(parser, "DROP")?;
    expect_word(parser, "SOURCE")?;
    let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let mut names = vec![parse_name(parser)?];
    while parser.consume_token(&Token::Comma) {
        names.push(parse_name(parser)?);
    }
    let cascade = parse_word(parser, "CASCADE");
    if !cascade {
        parse_word(parser, "RESTRICT");
    }
    Ok(Statement::Drop { kind: ObjectKind::Source, names, if_exists, cascade })
}

/// The source text of a statement's tokens, from its first to its last non-whitespace token.
fn chunk_text(sql: &str, chunk: &[TokenWithSpan]) -> String {
    let mut solid = chunk.iter().filter(|t| !is_whitespace(&t.token));
    let (Some(first), last) = (solid.next(), solid.next_back()) else {
        return String::new();
    };
    let end = last.unwrap_or(first).span.end;
    match (byte_offset(sql, first.span.start), byte_offset(sql, end)) {
        (Some(start), Some(end)) if start <= end => sql[start..end].to_string(),
        _ => sql.trim().to_string(),
    }
}

/// The byte offset of a tokenizer location (1-based line and character column).
fn byte_offset(sql: &str, location: Location) -> Option<usize> {
    let line = usize::try_from(location.line).ok()?.checked_sub(1)?;
    let column = usize::try_from(location.column).ok()?.checked_sub(1)?;
    let line_start =
        if line == 0 { 0 } else { sql.char_indices().filter(|(_, c)| *c == '\n').nth(line - 1).map(|(i, _)| i + 1)? };
    let rest = &sql[line_start..];
    match rest.char_indices().nth(column) {
        Some((i, _)) => Some(line_start + i),
        None if rest.chars().count() == column => Some(sql.len()),
        None => None,
    }
}

/// Replaces the values of secret WITH options (`secret_access_key`, `token`) in `CREATE SOURCE`
/// text by `'<redacted>'`, keeping everything else as written. Text that does not tokenize is
/// replaced wholesale, since it cannot be shown to hold no secrets.
pub fn redact_create_source_sql(sql: &str) -> String {
    let dialect = PostgreSqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize_with_location() else {
        return REDACTED.to_string();
    };
    let solid: Vec<&TokenWithSpan> = tokens.iter().filter(|t| !is_whitespace(&t.token)).collect();
    let mut ranges = Vec::new();
    let mut depth_in_options: Option<usize> = None;
    let mut depth = 0usize;
    for (i, token) in solid.iter().enumerate() {
        match &token.token {
            Token::LParen => {
                depth += 1;
                let after_with =
                    i > 0 && matches!(&solid[i - 1].token, Token::Word(w) if w.value.eq_ignore_ascii_case("with"));
                if after_with && depth_in_options.is_none() {
                    depth_in_options = Some(depth);
                }
            }
            Token::RParen => {
                if depth_in_options == Some(depth) {
                    depth_in_options = None;
                }
                depth = depth.saturating_sub(1);
            }
            Token::Word(w) if depth_in_options == Some(depth) && is_secret_key(&w.value, &solid, i) => {
                let value_at = if solid.get(i + 1).is_some_and(|t| t.token == Token::Eq) { i + 2 } else { i + 1 };
                if let Some(value) = solid.get(value_at).filter(|t| !matches!(t.token, Token::Comma | Token::RParen)) {
                    if let (Some(start), Some(end)) =
                        (byte_offset(sql, value.span.start), byte_offset(sql, value.span.end))
                    {
                        ranges.push(start..end);
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = sql.to_string();
    for range in ranges.into_iter().rev() {
        out.replace_range(range, &format!("'{REDACTED}'"));
    }
    out
}

/// Whether the word at `i` is a secret option's key (first in its option, not a value).
fn is_secret_key(word: &str, solid: &[&TokenWithSpan], i: usize) -> bool {
    let starts_option = i > 0 && matches!(solid[i - 1].token, Token::LParen | Token::Comma);
    starts_option && SECRET_OPTIONS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
