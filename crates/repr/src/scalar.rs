//! SQL scalar types and their PostgreSQL names and OIDs.

use serde::{Deserialize, Serialize};

/// A SQL scalar type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScalarType {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Numeric,
    Text,
    Bytes,
    Jsonb,
    Date,
    Timestamp,
    TimestampTz,
    Interval,
}

impl ScalarType {
    /// Whether two equal values of this type are always the same datum (not so for numerics, whose
    /// 1.5 and 1.50 are equal, floats' 0 and -0, intervals or jsonb), so that one side's value of
    /// a join key may stand for the other's.
    pub fn equal_values_are_identical(self) -> bool {
        match self {
            ScalarType::Bool
            | ScalarType::Int16
            | ScalarType::Int32
            | ScalarType::Int64
            | ScalarType::Text
            | ScalarType::Bytes
            | ScalarType::Date
            | ScalarType::Timestamp
            | ScalarType::TimestampTz => true,
            ScalarType::Float32
            | ScalarType::Float64
            | ScalarType::Numeric
            | ScalarType::Jsonb
            | ScalarType::Interval => false,
        }
    }

    /// The name PostgreSQL prints for this type (`format_type`).
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::Bool => "boolean",
            ScalarType::Int16 => "smallint",
            ScalarType::Int32 => "integer",
            ScalarType::Int64 => "bigint",
            ScalarType::Float32 => "real",
            ScalarType::Float64 => "double precision",
            ScalarType::Numeric => "numeric",
            ScalarType::Text => "text",
            ScalarType::Bytes => "bytea",
            ScalarType::Jsonb => "jsonb",
            ScalarType::Date => "date",
            ScalarType::Timestamp => "timestamp without time zone",
            ScalarType::TimestampTz => "timestamp with time zone",
            ScalarType::Interval => "interval",
        }
    }

    /// The PostgreSQL type OID, as sent in RowDescription and ParameterDescription.
    pub fn oid(self) -> u32 {
        match self {
            ScalarType::Bool => 16,
            ScalarType::Int16 => 21,
            ScalarType::Int32 => 23,
            ScalarType::Int64 => 20,
            ScalarType::Float32 => 700,
            ScalarType::Float64 => 701,
            ScalarType::Numeric => 1700,
            ScalarType::Text => 25,
            ScalarType::Bytes => 17,
            ScalarType::Jsonb => 3802,
            ScalarType::Date => 1082,
            ScalarType::Timestamp => 1114,
            ScalarType::TimestampTz => 1184,
            ScalarType::Interval => 1186,
        }
    }

    /// The type for a PostgreSQL OID, if Freshet supports it. Unsized variants (varchar, char, json)
    /// map to their closest supported type.
    pub fn from_oid(oid: u32) -> Option<ScalarType> {
        Some(match oid {
            16 => ScalarType::Bool,
            21 => ScalarType::Int16,
            23 => ScalarType::Int32,
            20 => ScalarType::Int64,
            700 => ScalarType::Float32,
            701 => ScalarType::Float64,
            1700 => ScalarType::Numeric,
            25 | 1043 | 1042 | 19 => ScalarType::Text,
            17 => ScalarType::Bytes,
            3802 | 114 => ScalarType::Jsonb,
            1082 => ScalarType::Date,
            1114 => ScalarType::Timestamp,
            1184 => ScalarType::TimestampTz,
            1186 => ScalarType::Interval,
            _ => return None,
        })
    }

    /// Resolves a SQL type name (lower case, without modifiers) such as `int8` or `character varying`.
    pub fn from_sql_name(name: &str) -> Option<ScalarType> {
        Some(match name {
            "bool" | "boolean" => ScalarType::Bool,
            "int2" | "smallint" => ScalarType::Int16,
            "int" | "int4" | "integer" => ScalarType::Int32,
            "int8" | "bigint" => ScalarType::Int64,
            "float4" | "real" => ScalarType::Float32,
            "float" | "float8" | "double precision" | "double" => ScalarType::Float64,
            "numeric" | "decimal" => ScalarType::Numeric,
            "text" | "varchar" | "character varying" | "char" | "character" | "string" | "bpchar" | "name" => {
                ScalarType::Text
            }
            "bytea" | "bytes" => ScalarType::Bytes,
            "jsonb" | "json" => ScalarType::Jsonb,
            "date" => ScalarType::Date,
            "timestamp" | "timestamp without time zone" => ScalarType::Timestamp,
            "timestamptz" | "timestamp with time zone" => ScalarType::TimestampTz,
            "interval" => ScalarType::Interval,
            _ => return None,
        })
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            ScalarType::Int16
                | ScalarType::Int32
                | ScalarType::Int64
                | ScalarType::Float32
                | ScalarType::Float64
                | ScalarType::Numeric
        )
    }

    pub fn is_integer(self) -> bool {
        matches!(self, ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64)
    }
}

impl std::fmt::Display for ScalarType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
