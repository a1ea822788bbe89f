//! FORMAT REGEX '<pattern>': one nullable text column per capture group, named by the group's
//! name or `columnN`.

use freshet_repr::Datum;
use regex::Regex;

use super::DecodeFailure;

pub(super) struct RegexDecoder {
    regex: Regex,
}

impl RegexDecoder {
    pub(super) fn new(pattern: &str) -> Result<RegexDecoder, DecodeFailure> {
        let regex = Regex::new(pattern).map_err(|e| DecodeFailure(format!("invalid regular expression: {e}")))?;
        if regex.captures_len() < 2 {
            return Err(DecodeFailure("a REGEX format needs at least one capture group".into()));
        }
        Ok(RegexDecoder { regex })
    }

    /// Column names: the group's name, else `column<position>` (1-based).
    pub(super) fn column_names(&self) -> Vec<String> {
        self.regex
            .capture_names()
            .enumerate()
            .skip(1)
            .map(|(i, name)| name.map_or_else(|| format!("column{i}"), String::from))
            .collect()
    }

    pub(super) fn decode(&self, bytes: &[u8]) -> Result<Vec<Datum>, DecodeFailure> {
        let text = std::str::from_utf8(bytes).map_err(|e| DecodeFailure(format!("invalid UTF-8 in record: {e}")))?;
        let captures = self
            .regex
            .captures(text)
            .ok_or_else(|| DecodeFailure("record does not match the regular expression".into()))?;
        Ok(captures
            .iter()
            .skip(1)
            .map(|group| group.map_or(Datum::Null, |m| Datum::Text(m.as_str().to_string())))
            .collect())
    }
}
