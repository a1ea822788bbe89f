//! PostgreSQL's binary `numeric` format, converted to and from plain decimal strings
//! (`-123.4500`), so that no big-integer arithmetic is needed here.
//!
//! The format is: `ndigits: i16, weight: i16, sign: u16, dscale: u16`, then `ndigits` base-10000
//! digits (`i16` each). The value is `sum(digit[i] * 10000^(weight - i))`, printed with `dscale`
//! digits after the decimal point. This module must not know about datums or sessions.

use bytes::{BufMut, BytesMut};
use thiserror::Error;

const SIGN_POSITIVE: u16 = 0x0000;
const SIGN_NEGATIVE: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_PINF: u16 = 0xD000;
const SIGN_NINF: u16 = 0xF000;

/// Why a binary numeric could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NumericError {
    #[error("binary numeric is truncated or has trailing bytes")]
    Length,
    #[error("binary numeric digit {0} is out of range")]
    Digit(i16),
    #[error("NaN and infinite numerics are not supported")]
    Special,
    #[error("invalid binary numeric sign {0:#06x}")]
    Sign(u16),
    #[error("binary numeric weight {0} or scale {1} is out of range")]
    Range(i16, u16),
}

/// Decodes a binary numeric into a plain decimal string.
pub fn decode_binary(bytes: &[u8]) -> Result<String, NumericError> {
    let header = |i: usize| bytes.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or(NumericError::Length);
    let ndigits = header(0)? as i16;
    let weight = header(2)? as i16;
    let sign = header(4)?;
    let dscale = header(6)?;
    match sign {
        SIGN_POSITIVE | SIGN_NEGATIVE => {}
        SIGN_NAN | SIGN_PINF | SIGN_NINF => return Err(NumericError::Special),
        other => return Err(NumericError::Sign(other)),
    }
    let ndigits = usize::try_from(ndigits).map_err(|_| NumericError::Length)?;
    if bytes.len() != 8 + 2 * ndigits {
        return Err(NumericError::Length);
    }
    // PostgreSQL caps a numeric at 131072 digits before and 16383 after the point.
    if !(-8192..=32768 / 4).contains(&(weight as i32)) || dscale > 16383 {
        return Err(NumericError::Range(weight, dscale));
    }
    let digits = bytes[8..]
        .chunks_exact(2)
        .map(|c| {
            let d = i16::from_be_bytes([c[0], c[1]]);
            if (0..10000).contains(&d) {
                Ok(d)
            } else {
                Err(NumericError::Digit(d))
            }
        })
        .collect::<Result<Vec<i16>, _>>()?;
    Ok(digits_to_string(&digits, weight as i32, dscale as usize, sign == SIGN_NEGATIVE))
}

fn digits_to_string(digits: &[i16], weight: i32, dscale: usize, negative: bool) -> String {
    let digit_at = |pos: i32| -> i16 {
        // `pos` counts base-10000 places from the most significant stored digit.
        usize::try_from(weight - pos).ok().and_then(|i| digits.get(i)).copied().unwrap_or(0)
    };
    let mut int_part = String::new();
    for pos in (0..=weight).rev() {
        if int_part.is_empty() {
            let d = digit_at(pos);
            if d != 0 {
                int_part.push_str(&d.to_string());
            }
        } else {
            int_part.push_str(&format!("{:04}", digit_at(pos)));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    let mut frac = String::new();
    let mut pos = -1;
    while frac.len() < dscale {
        frac.push_str(&format!("{:04}", digit_at(pos)));
        pos -= 1;
    }
    frac.truncate(dscale);
    let is_zero = int_part == "0" && frac.bytes().all(|b| b == b'0');
    let mut out = String::with_capacity(int_part.len() + frac.len() + 2);
    if negative && !is_zero {
        out.push('-');
    }
    out.push_str(&int_part);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    out
}

/// Encodes a plain decimal string (`-123.45`, as `format_numeric` prints it) in binary form.
/// Anything else (which `format_numeric` never produces) encodes as zero.
pub fn encode_binary(buf: &mut BytesMut, text: &str) {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let valid = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !valid(int_part) || !valid(frac_part) {
        return put_numeric(buf, &[], 0, SIGN_POSITIVE, 0);
    }
    let dscale = u16::try_from(frac_part.len()).unwrap_or(u16::MAX);
    let int_part = int_part.trim_start_matches('0');
    // Pad the integer part on the left and the fraction on the right to whole base-10000 digits.
    let int_pad = (4 - int_part.len() % 4) % 4;
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let padded: String = "0".repeat(int_pad) + int_part + frac_part + &"0".repeat(frac_pad);
    let mut digits: Vec<i16> =
        padded.as_bytes().chunks(4).map(|c| c.iter().fold(0i16, |acc, b| acc * 10 + i16::from(b - b'0'))).collect();
    let mut weight = ((int_part.len() + int_pad) / 4) as i32 - 1;
    let leading = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..leading);
    weight -= leading as i32;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        return put_numeric(buf, &[], 0, SIGN_POSITIVE, dscale);
    }
    let sign = if negative { SIGN_NEGATIVE } else { SIGN_POSITIVE };
    put_numeric(buf, &digits, weight.clamp(i16::MIN as i32, i16::MAX as i32) as i16, sign, dscale);
}

fn put_numeric(buf: &mut BytesMut, digits: &[i16], weight: i16, sign: u16, dscale: u16) {
    buf.put_i16(i16::try_from(digits.len()).unwrap_or(i16::MAX));
    buf.put_i16(weight);
    buf.put_u16(sign);
    buf.put_u16(dscale);
    for d in digits {
        buf.put_i16(*d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str) -> Vec<u8> {
        let mut buf = BytesMut::new();
        encode_binary(&mut buf, text);
        buf.to_vec()
    }

    fn bin(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut buf = BytesMut::new();
        put_numeric(&mut buf, digits, weight, sign, dscale);
        assert_eq!(ndigits as usize, digits.len());
        buf.to_vec()
    }

    #[test]
    fn encodes_like_postgres() {
        // Expected values are what PostgreSQL's numeric_send produces.
        assert_eq!(encode("0"), bin(0, 0, SIGN_POSITIVE, 0, &[]));
        assert_eq!(encode("0.00"), bin(0, 0, SIGN_POSITIVE, 2, &[]));
        assert_eq!(encode("1"), bin(1, 0, SIGN_POSITIVE, 0, &[1]));
        assert_eq!(encode("12345.678"), bin(3, 1, SIGN_POSITIVE, 3, &[1, 2345, 6780]));
        assert_eq!(encode("-0.0001"), bin(1, -1, SIGN_NEGATIVE, 4, &[1]));
        assert_eq!(encode("0.00001"), bin(1, -2, SIGN_POSITIVE, 5, &[1000]));
        assert_eq!(encode("10000"), bin(1, 1, SIGN_POSITIVE, 0, &[1]));
        assert_eq!(encode("100000000.5"), bin(4, 2, SIGN_POSITIVE, 1, &[1, 0, 0, 5000]));
    }

    #[test]
    fn decodes_like_postgres() {
        assert_eq!(decode_binary(&bin(3, 1, SIGN_POSITIVE, 3, &[1, 2345, 6780])).as_deref(), Ok("12345.678"));
        assert_eq!(decode_binary(&bin(1, -1, SIGN_NEGATIVE, 4, &[1])).as_deref(), Ok("-0.0001"));
        assert_eq!(decode_binary(&bin(1, -2, SIGN_POSITIVE, 5, &[1000])).as_deref(), Ok("0.00001"));
        assert_eq!(decode_binary(&bin(0, 0, SIGN_POSITIVE, 2, &[])).as_deref(), Ok("0.00"));
        assert_eq!(decode_binary(&bin(1, 1, SIGN_POSITIVE, 0, &[1])).as_deref(), Ok("10000"));
        // dscale smaller than the stored digits truncates, as PostgreSQL's output does.
        assert_eq!(decode_binary(&bin(2, 0, SIGN_POSITIVE, 1, &[3, 1400])).as_deref(), Ok("3.1"));
    }

    #[test]
    fn round_trips_many_values() {
        for text in ["3.14159", "-42", "0.5", "99999999999999999999.00000000000000000001", "-1234567.8", "7.000"] {
            assert_eq!(decode_binary(&encode(text)).as_deref(), Ok(text), "{text}");
        }
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(decode_binary(&[0, 1]), Err(NumericError::Length));
        assert_eq!(decode_binary(&bin(1, 0, SIGN_POSITIVE, 0, &[1])[..9]), Err(NumericError::Length));
        assert_eq!(decode_binary(&bin(1, 0, SIGN_POSITIVE, 0, &[10000])), Err(NumericError::Digit(10000)));
        assert_eq!(decode_binary(&bin(0, 0, SIGN_NAN, 0, &[])), Err(NumericError::Special));
        assert_eq!(decode_binary(&bin(0, 0, 0x1234, 0, &[])), Err(NumericError::Sign(0x1234)));
        let mut negative_count = bin(0, 0, SIGN_POSITIVE, 0, &[]);
        negative_count[0] = 0xff;
        assert_eq!(decode_binary(&negative_count), Err(NumericError::Length));
    }
}
