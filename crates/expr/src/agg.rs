//! Aggregate functions: typing and evaluation over one group's multiset of values.

use freshet_repr::{ColumnType, Datum, Diff, EvalError, ScalarType};
use serde::{Deserialize, Serialize};

use crate::func::Operand;
use crate::{ScalarExpr, TypeError};

/// An aggregate function over the values of one group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AggregateFunc {
    /// `count(expr)`: non-null values. `count(*)` is `Count` over a constant true.
    Count,
}

/// One aggregate in a `Reduce`: a function applied to an expression over the input row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AggregateExpr {
    pub func: AggregateFunc,
    pub expr: ScalarExpr,
    pub distinct: bool,
}

impl AggregateExpr {
    pub fn output_type(&self, input: &[ColumnType]) -> ColumnType {
        let arg = crate::func::infer_type(&self.expr, input);
        self.func.output_type(arg)
    }
}

impl AggregateFunc {
    pub fn output_type(&self, arg: ColumnType) -> ColumnType {
        let _ = arg;
        match self {
            AggregateFunc::Count => ColumnType::new(ScalarType::Int64, false),
        }
    }

    /// The aggregate of a group, given each distinct value with its (positive) multiplicity.
    pub fn eval(&self, values: &[(Datum, Diff)]) -> Result<Datum, EvalError> {
        match self {
            AggregateFunc::Count => {
                Ok(Datum::Int64(values.iter().filter(|(d, _)| !d.is_null()).map(|(_, n)| *n).sum()))
            }
        }
    }

    /// The value over an empty input without GROUP BY (`count` is 0, the others NULL).
    pub fn default_value(&self) -> Datum {
        match self {
            AggregateFunc::Count => Datum::Int64(0),
        }
    }
}

/// Types the aggregate `name` (lower case) over `args`; `count(*)` arrives with no arguments.
pub fn plan_aggregate(name: &str, distinct: bool, args: Vec<Operand>) -> Result<AggregateExpr, TypeError> {
    let _ = args;
    match name {
        "count" => Ok(AggregateExpr { func: AggregateFunc::Count, expr: ScalarExpr::literal_true(), distinct }),
        _ => Err(TypeError::UndefinedFunction { name: name.to_string(), args: String::new() }),
    }
}
