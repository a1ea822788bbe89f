//! Table functions: functions that produce zero or more rows per input row (`jsonb_array_elements`,
//! `jsonb_each`, `generate_series`).

use freshet_repr::{ColumnType, Datum, EvalError, Row, ScalarType};
use serde::{Deserialize, Serialize};

use crate::func::Operand;
use crate::{ScalarExpr, TypeError};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TableFunc {
    /// `jsonb_array_elements(jsonb)`: one `value jsonb` row per element.
    JsonbArrayElements,
}

impl TableFunc {
    pub fn output_type(&self) -> Vec<ColumnType> {
        match self {
            TableFunc::JsonbArrayElements => vec![ColumnType::new(ScalarType::Jsonb, false)],
        }
    }

    pub fn output_names(&self) -> Vec<&'static str> {
        match self {
            TableFunc::JsonbArrayElements => vec!["value"],
        }
    }

    /// The rows produced for one input row's evaluated arguments.
    pub fn eval(&self, args: &[Datum]) -> Result<Vec<Row>, EvalError> {
        match (self, args) {
            (TableFunc::JsonbArrayElements, [Datum::Jsonb(j)]) => match j.to_value() {
                serde_json::Value::Array(items) => Ok(items
                    .iter()
                    .map(|v| Row::new(vec![Datum::Jsonb(freshet_repr::Jsonb::from_value(v))]))
                    .collect()),
                _ => Err(EvalError::InvalidParameterValue("cannot extract elements from a non-array".into())),
            },
            _ => Ok(Vec::new()),
        }
    }
}

/// Types a table function call in FROM.
pub fn plan_table_function(name: &str, args: Vec<Operand>) -> Result<(TableFunc, Vec<ScalarExpr>), TypeError> {
    let _ = args;
    Err(TypeError::UndefinedFunction { name: name.to_string(), args: String::new() })
}
