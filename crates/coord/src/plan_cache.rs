//! Plans of prepared statements, kept with the statement and reused with new parameter values.
//!
//! A prepared point query was planned at every Execute, and planning was a tenth of the server's
//! CPU per query. A `SELECT` is planned once with its parameters as `ScalarExpr::Param` (nothing
//! folds or inspects them), and each execution binds the values into a copy of that plan. A
//! statement whose planning needs a parameter's value (`LIMIT $1`) fails that planning and is
//! planned with its values at every execution, as before.
//!
//! A kept plan is used only while everything it was made from is as it was: the catalog (its
//! generation), the session's variables (their generation), and nothing volatile was read
//! (introspection relations, listings, the statement timestamp). This module must not change what
//! any statement returns.

use std::sync::{Arc, Mutex, PoisonError};

use freshet_expr::RelationExpr;
use freshet_repr::{Datum, GlobalId, RelationDesc};
use freshet_sql::{Plan, RowSetFinishing, Statement};

/// A parsed statement as prepared statements keep it: the statement and its plan slot. Clones
/// share the slot.
#[derive(Clone, Debug)]
pub struct ParsedStatement {
    pub statement: Statement,
    /// Only a query's plan is kept (others are planned with their values), so only a query has
    /// a slot: planning anything else with late parameters would be planning it twice.
    slot: Option<Arc<PlanSlot>>,
}

impl ParsedStatement {
    pub fn new(statement: Statement) -> Self {
        let slot = statement.is_query().then(Arc::default);
        ParsedStatement { statement, slot }
    }

    pub(crate) fn slot(&self) -> Option<&PlanSlot> {
        self.slot.as_deref()
    }
}

/// What a kept plan was made against: the catalog's and the session variables' generations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Generations {
    pub catalog: u64,
    pub variables: u64,
}

/// Where a prepared statement keeps its plan; starts empty.
#[derive(Debug, Default)]
pub(crate) struct PlanSlot(Mutex<Slot>);

#[derive(Debug, Default)]
enum Slot {
    #[default]
    Empty,
    Kept(Box<KeptPlan>),
    /// Planning with late-bound parameters failed or read something volatile at these generations.
    Never(Generations),
}

#[derive(Debug)]
struct KeptPlan {
    made_at: Generations,
    expr: RelationExpr,
    desc: RelationDesc,
    finishing: RowSetFinishing,
    depends_on: Vec<GlobalId>,
}

/// One planning with late-bound parameters: the plan, the relations it depends on, and whether it
/// read anything that can change while the generations do not.
pub(crate) struct LatePlan {
    pub plan: Plan,
    pub depends_on: Vec<GlobalId>,
    pub volatile: bool,
}

impl PlanSlot {
    /// The kept plan bound to `values`, if there is one made at `now`.
    pub(crate) fn bind(&self, now: Generations, values: &[Datum]) -> Option<(Plan, Vec<GlobalId>)> {
        let slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Slot::Kept(kept) = &*slot else { return None };
        if kept.made_at != now {
            return None;
        }
        let mut expr = kept.expr.clone();
        if !expr.bind_params(values) {
            return None;
        }
        let plan = Plan::Select { expr, desc: kept.desc.clone(), finishing: kept.finishing.clone() };
        Some((plan, kept.depends_on.clone()))
    }

    /// Whether planning with late-bound parameters is worth trying at `now`.
    pub(crate) fn worth_planning(&self, now: Generations) -> bool {
        match &*self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            Slot::Never(at) => *at != now,
            Slot::Kept(kept) => kept.made_at != now,
            Slot::Empty => true,
        }
    }

    /// Keeps `planned` (made at `now`) if it is a `SELECT` that read nothing volatile; otherwise
    /// remembers not to try again at `now`.
    pub(crate) fn keep(&self, now: Generations, planned: Option<LatePlan>) {
        let kept = match planned {
            Some(LatePlan { plan: Plan::Select { expr, desc, finishing }, depends_on, volatile: false }) => {
                Slot::Kept(Box::new(KeptPlan { made_at: now, expr, desc, finishing, depends_on }))
            }
            _ => Slot::Never(now),
        };
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = kept;
    }
}
