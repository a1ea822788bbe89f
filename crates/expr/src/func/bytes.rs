//! bytea functions: `||`, `convert_from`/`convert_to` (UTF8 and LATIN1), `encode`/`decode` (hex,
//! base64, escape).

use freshet_repr::{Datum, EvalError};

use super::{type_mismatch, BinaryFunc};

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// PostgreSQL wraps base64 output at 76 characters.
const BASE64_LINE: usize = 76;

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Utf8,
    Latin1,
}

fn encoding(name: &str, what: &str) -> Result<Encoding, EvalError> {
    let normalized: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase();
    match normalized.as_str() {
        "utf8" | "unicode" => Ok(Encoding::Utf8),
        "latin1" | "iso88591" | "sqlascii" => Ok(Encoding::Latin1),
        _ => Err(EvalError::InvalidParameterValue(format!("invalid {what} encoding name \"{name}\""))),
    }
}

pub(crate) fn eval_binary(func: &BinaryFunc, a: Datum, b: Datum) -> Result<Datum, EvalError> {
    match (func, a, b) {
        (BinaryFunc::BytesConcat, Datum::Bytes(mut x), Datum::Bytes(y)) => {
            x.extend_from_slice(&y);
            Ok(Datum::Bytes(x))
        }
        (BinaryFunc::ConvertFrom, Datum::Bytes(bytes), Datum::Text(enc)) => match encoding(&enc, "source")? {
            Encoding::Utf8 => {
                String::from_utf8(bytes).map(Datum::Text).map_err(|e| invalid_utf8(e.as_bytes(), e.utf8_error()))
            }
            Encoding::Latin1 => Ok(Datum::Text(bytes.iter().map(|&b| b as char).collect())),
        },
        (BinaryFunc::ConvertTo, Datum::Text(s), Datum::Text(enc)) => match encoding(&enc, "destination")? {
            Encoding::Utf8 => Ok(Datum::Bytes(s.into_bytes())),
            Encoding::Latin1 => s
                .chars()
                .map(|c| u8::try_from(c as u32).map_err(|_| not_in_latin1(c)))
                .collect::<Result<Vec<u8>, _>>()
                .map(Datum::Bytes),
        },
        (BinaryFunc::GetByte, Datum::Bytes(bytes), Datum::Int32(n)) => {
            let byte = usize::try_from(n).ok().and_then(|i| bytes.get(i));
            let last = bytes.len() as i64 - 1;
            byte.map(|b| Datum::Int32(i32::from(*b)))
                .ok_or_else(|| EvalError::ArraySubscriptError(format!("index {n} out of valid range, 0..{last}")))
        }
        (BinaryFunc::Encode, Datum::Bytes(bytes), Datum::Text(format)) => match format.to_lowercase().as_str() {
            "hex" => Ok(Datum::Text(bytes.iter().map(|b| format!("{b:02x}")).collect())),
            "base64" => Ok(Datum::Text(base64_encode(&bytes))),
            "escape" => Ok(Datum::Text(escape_encode(&bytes))),
            _ => Err(unknown_format(&format)),
        },
        (BinaryFunc::Decode, Datum::Text(s), Datum::Text(format)) => match format.to_lowercase().as_str() {
            "hex" => hex_decode(&s).map(Datum::Bytes),
            "base64" => base64_decode(&s).map(Datum::Bytes),
            "escape" => escape_decode(&s).map(Datum::Bytes),
            _ => Err(unknown_format(&format)),
        },
        (_, a, _) => Err(type_mismatch("bytea function", &a)),
    }
}

fn invalid_utf8(bytes: &[u8], err: std::str::Utf8Error) -> EvalError {
    let start = err.valid_up_to();
    let len = err.error_len().unwrap_or(bytes.len() - start).max(1);
    let shown: Vec<String> =
        bytes[start..(start + len).min(bytes.len())].iter().map(|b| format!("0x{b:02x}")).collect();
    EvalError::CharacterNotInRepertoire(format!("invalid byte sequence for encoding \"UTF8\": {}", shown.join(" ")))
}

fn not_in_latin1(c: char) -> EvalError {
    EvalError::CharacterNotInRepertoire(format!(
        "character with byte sequence 0x{:x} in encoding \"UTF8\" has no equivalent in encoding \"LATIN1\"",
        c as u32
    ))
}

fn unknown_format(format: &str) -> EvalError {
    EvalError::InvalidParameterValue(format!("unrecognized encoding: \"{format}\""))
}

fn hex_decode(s: &str) -> Result<Vec<u8>, EvalError> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(EvalError::InvalidParameterValue("invalid hexadecimal data: odd number of digits".into()));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| {
                (b as char).to_digit(16).ok_or_else(|| {
                    EvalError::InvalidParameterValue(format!("invalid hexadecimal digit: \"{}\"", b as char))
                })
            };
            Ok((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    let mut line = 0;
    for chunk in bytes.chunks(3) {
        if line == BASE64_LINE {
            out.push('\n');
            line = 0;
        }
        let n =
            (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
        line += 4;
    }
    out
}

fn base64_decode(s: &str) -> Result<Vec<u8>, EvalError> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits, mut padding) = (0u32, 0u32, 0usize);
    for c in s.bytes().filter(|b| !b.is_ascii_whitespace()) {
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            return Err(EvalError::InvalidParameterValue("unexpected \"=\" while decoding base64 sequence".into()));
        }
        let v = BASE64.iter().position(|&b| b == c).ok_or_else(|| {
            EvalError::InvalidParameterValue(format!(
                "invalid symbol \"{}\" found while decoding base64 sequence",
                c as char
            ))
        })?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return Err(EvalError::InvalidParameterValue("invalid base64 end sequence".into()));
    }
    Ok(out)
}

/// Escape format: NUL and high-bit bytes as `\ooo`, backslash doubled.
fn escape_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            0 | 0x80..=0xff => out.push_str(&format!("\\{b:03o}")),
            _ => out.push(b as char),
        }
    }
    out
}

fn escape_decode(s: &str) -> Result<Vec<u8>, EvalError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let bad = || EvalError::InvalidTextRepresentation { ty: "bytea".into(), text: s.into() };
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let octal = bytes.get(i + 1..i + 4).and_then(|o| std::str::from_utf8(o).ok()).ok_or_else(bad)?;
            out.push(u8::from_str_radix(octal, 8).map_err(|_| bad())?);
            i += 4;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(func: BinaryFunc, a: Datum, b: &str) -> Result<Datum, EvalError> {
        eval_binary(&func, a, Datum::text(b))
    }

    #[test]
    fn convert_from_validates_utf8() {
        assert_eq!(bin(BinaryFunc::ConvertFrom, Datum::Bytes(b"h\xc3\xa9".to_vec()), "UTF8"), Ok(Datum::text("hé")));
        assert_eq!(bin(BinaryFunc::ConvertFrom, Datum::Bytes(b"hi".to_vec()), "utf-8"), Ok(Datum::text("hi")));
        let err = bin(BinaryFunc::ConvertFrom, Datum::Bytes(vec![0x61, 0xff]), "utf8").unwrap_err();
        assert_eq!(err.sqlstate(), "22021");
        assert_eq!(err.to_string(), "invalid byte sequence for encoding \"UTF8\": 0xff");
        assert_eq!(bin(BinaryFunc::ConvertFrom, Datum::Bytes(vec![0xe9]), "LATIN1"), Ok(Datum::text("é")));
        assert_eq!(bin(BinaryFunc::ConvertFrom, Datum::Bytes(vec![]), "klingon").unwrap_err().sqlstate(), "22023");
        assert_eq!(bin(BinaryFunc::ConvertTo, Datum::text("é"), "utf8"), Ok(Datum::Bytes(vec![0xc3, 0xa9])));
    }

    #[test]
    fn encode_and_decode_round_trip() {
        let data = Datum::Bytes(b"\x00ab\\\xff".to_vec());
        for format in ["hex", "base64", "escape"] {
            let encoded = bin(BinaryFunc::Encode, data.clone(), format).unwrap();
            assert_eq!(bin(BinaryFunc::Decode, encoded, format), Ok(data.clone()), "{format}");
        }
        assert_eq!(bin(BinaryFunc::Encode, Datum::Bytes(b"hello".to_vec()), "base64"), Ok(Datum::text("aGVsbG8=")));
        assert_eq!(bin(BinaryFunc::Encode, Datum::Bytes(vec![0xde, 0xad]), "hex"), Ok(Datum::text("dead")));
        assert_eq!(bin(BinaryFunc::Encode, data.clone(), "escape"), Ok(Datum::text("\\000ab\\\\\\377")));
        assert_eq!(bin(BinaryFunc::Decode, Datum::text("aGk="), "base64"), Ok(Datum::Bytes(b"hi".to_vec())));
        assert_eq!(bin(BinaryFunc::Decode, Datum::text("abc"), "hex").unwrap_err().sqlstate(), "22023");
        assert_eq!(bin(BinaryFunc::Encode, data, "rot13").unwrap_err().sqlstate(), "22023");
        let long = base64_encode(&[7u8; 60]);
        assert_eq!(long.lines().next().map(str::len), Some(76));
    }
}
