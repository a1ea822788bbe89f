//! `Datum`, one SQL value, and the wrappers that give floats, numerics, JSON and intervals the total
//! order and hashing that dataflow arrangements need.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use bigdecimal::BigDecimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Jsonb, ScalarType};

/// One SQL value. `Null` carries no type: the column's `ColumnType` says what it would be.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Datum {
    Null,
    Bool(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(F32),
    Float64(F64),
    /// Boxed: a `BigDecimal` is 40 bytes, and inline it made every datum of every row that large.
    Numeric(Box<Numeric>),
    Text(String),
    Bytes(Vec<u8>),
    Jsonb(Jsonb),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01 00:00:00, no time zone.
    Timestamp(i64),
    /// Microseconds since 1970-01-01 00:00:00 UTC.
    TimestampTz(i64),
    Interval(Interval),
}

impl Datum {
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// The type of a non-null datum.
    pub fn scalar_type(&self) -> Option<ScalarType> {
        Some(match self {
            Datum::Null => return None,
            Datum::Bool(_) => ScalarType::Bool,
            Datum::Int16(_) => ScalarType::Int16,
            Datum::Int32(_) => ScalarType::Int32,
            Datum::Int64(_) => ScalarType::Int64,
            Datum::Float32(_) => ScalarType::Float32,
            Datum::Float64(_) => ScalarType::Float64,
            Datum::Numeric(_) => ScalarType::Numeric,
            Datum::Text(_) => ScalarType::Text,
            Datum::Bytes(_) => ScalarType::Bytes,
            Datum::Jsonb(_) => ScalarType::Jsonb,
            Datum::Date(_) => ScalarType::Date,
            Datum::Timestamp(_) => ScalarType::Timestamp,
            Datum::TimestampTz(_) => ScalarType::TimestampTz,
            Datum::Interval(_) => ScalarType::Interval,
        })
    }

    pub fn float64(v: f64) -> Datum {
        Datum::Float64(F64(v))
    }

    pub fn float32(v: f32) -> Datum {
        Datum::Float32(F32(v))
    }

    pub fn numeric(v: BigDecimal) -> Datum {
        Datum::Numeric(Box::new(Numeric(v)))
    }

    pub fn text(s: impl Into<String>) -> Datum {
        Datum::Text(s.into())
    }

    /// The boolean value, treating NULL as "not true" (the WHERE-clause reading).
    pub fn is_true(&self) -> bool {
        matches!(self, Datum::Bool(true))
    }
}

macro_rules! float_wrapper {
    ($name:ident, $t:ty) => {
        /// A float with PostgreSQL's total order: NaN sorts above every number and equals itself,
        /// and -0 equals 0.
        #[derive(Clone, Copy, Debug, Serialize, Deserialize)]
        pub struct $name(pub $t);

        impl $name {
            fn canonical_bits(self) -> u64 {
                if self.0.is_nan() {
                    u64::MAX
                } else if self.0 == 0.0 {
                    0
                } else {
                    (self.0 as f64).to_bits()
                }
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other) == Ordering::Equal
            }
        }
        impl Eq for $name {}
        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for $name {
            fn cmp(&self, other: &Self) -> Ordering {
                match (self.0.is_nan(), other.0.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal),
                }
            }
        }
        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.canonical_bits().hash(state)
            }
        }
    };
}

float_wrapper!(F32, f32);
float_wrapper!(F64, f64);

/// An arbitrary-precision decimal. Serialized as its decimal string so that it crosses process
/// boundaries (bincode) and files (JSON) exactly.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Numeric(pub BigDecimal);

impl Serialize for Numeric {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Numeric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        BigDecimal::from_str(&text).map(Numeric).map_err(serde::de::Error::custom)
    }
}

/// A PostgreSQL interval: months, days and microseconds are kept apart because their lengths vary.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

impl Interval {
    pub const MICROS_PER_DAY: i64 = 86_400_000_000;

    /// The span as microseconds with PostgreSQL's comparison convention (a month is 30 days).
    pub fn as_micros_i128(&self) -> i128 {
        (self.months as i128 * 30 + self.days as i128) * Self::MICROS_PER_DAY as i128 + self.micros as i128
    }
}

impl PartialEq for Interval {
    fn eq(&self, other: &Self) -> bool {
        self.as_micros_i128() == other.as_micros_i128()
    }
}
impl Eq for Interval {}
impl PartialOrd for Interval {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Interval {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_micros_i128().cmp(&other.as_micros_i128())
    }
}
impl Hash for Interval {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_micros_i128().hash(state)
    }
}
