//! Test support: an in-memory catalog and a reference evaluator of `RelationExpr` over fixed
//! contents, so that planner tests can check results, not only shapes.

use std::collections::{BTreeMap, HashMap};

use freshet_expr::relation::ColumnOrder;
use freshet_expr::{JoinKind, RelationExpr, ScalarExpr};
use freshet_repr::{ColumnType, Datum, Diff, GlobalId, RelationDesc, Row, ScalarType};

use crate::catalog::{CatalogItem, ItemKind, ObjectKind, SessionCatalog};
use crate::plan::RowSetFinishing;

#[derive(Default)]
pub struct TestCatalog {
    pub items: HashMap<String, CatalogItem>,
    pub contents: HashMap<GlobalId, Vec<Row>>,
    pub vars: HashMap<String, String>,
}

impl TestCatalog {
    pub fn add_table(&mut self, id: u64, name: &str, columns: &[(&str, ScalarType, bool)], rows: Vec<Vec<Datum>>) {
        let desc = RelationDesc::new(
            columns.iter().map(|(n, t, nullable)| (n.to_string(), ColumnType::new(*t, *nullable))).collect(),
        );
        let item = CatalogItem {
            id: GlobalId(id),
            name: name.into(),
            object_kind: ObjectKind::Table,
            desc,
            kind: ItemKind::Stored,
            create_sql: String::new(),
        };
        self.items.insert(name.into(), item);
        self.contents.insert(GlobalId(id), rows.into_iter().map(Row::new).collect());
    }

    pub fn add_view(&mut self, id: u64, name: &str, expr: RelationExpr, desc: RelationDesc) {
        let item = CatalogItem {
            id: GlobalId(id),
            name: name.into(),
            object_kind: ObjectKind::View,
            desc,
            kind: ItemKind::View(expr),
            create_sql: String::new(),
        };
        self.items.insert(name.into(), item);
    }
}

impl SessionCatalog for TestCatalog {
    fn resolve(&self, name: &str) -> Option<CatalogItem> {
        self.items.get(name).cloned()
    }
    fn list(&self, kind: ObjectKind) -> Vec<CatalogItem> {
        let mut items: Vec<CatalogItem> = self.items.values().filter(|i| i.object_kind == kind).cloned().collect();
        items.sort_by(|a, b| a.name.cmp(&b.name));
        items
    }
    fn dependents(&self, _id: GlobalId) -> Vec<CatalogItem> {
        Vec::new()
    }
    fn session_variable(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}

type Multiset = BTreeMap<Row, Diff>;

fn add(set: &mut Multiset, row: Row, diff: Diff) {
    let entry = set.entry(row).or_insert(0);
    *entry += diff;
}

fn consolidate(set: Multiset) -> Multiset {
    set.into_iter().filter(|(_, d)| *d != 0).collect()
}

/// Evaluates `expr` over the catalog's contents; panics on evaluation errors (tests only).
pub fn eval(expr: &RelationExpr, catalog: &TestCatalog) -> Multiset {
    let mut out = Multiset::new();
    match expr {
        RelationExpr::Constant { rows, .. } => rows.iter().for_each(|(r, d)| add(&mut out, r.clone(), *d)),
        RelationExpr::Get { id, .. } => catalog.contents[id].iter().for_each(|r| add(&mut out, r.clone(), 1)),
        RelationExpr::Map { input, scalars } => {
            for (row, d) in eval(input, catalog) {
                let mut datums = row.into_datums();
                for s in scalars {
                    let v = s.eval(&datums).unwrap();
                    datums.push(v);
                }
                add(&mut out, Row::new(datums), d);
            }
        }
        RelationExpr::Filter { input, predicates } => {
            for (row, d) in eval(input, catalog) {
                if predicates.iter().all(|p| p.eval(row.datums()).unwrap().is_true()) {
                    add(&mut out, row, d);
                }
            }
        }
        RelationExpr::Project { input, outputs } => {
            eval(input, catalog).into_iter().for_each(|(r, d)| add(&mut out, r.project(outputs), d))
        }
        RelationExpr::FlatMap { input, func, exprs } => {
            for (row, d) in eval(input, catalog) {
                let args: Vec<Datum> = exprs.iter().map(|e| e.eval(row.datums()).unwrap()).collect();
                for produced in func.eval(&args).unwrap() {
                    add(&mut out, row.concat(&produced), d);
                }
            }
        }
        RelationExpr::Join { left, right, left_key, right_key, residual, kind } => {
            let (l, r) = (eval(left, catalog), eval(right, catalog));
            join(&l, &r, left_key, right_key, residual, *kind, left.arity(), right.arity(), &mut out);
        }
        RelationExpr::Reduce { input, group_key, aggregates } => {
            let mut groups: BTreeMap<Row, Vec<(Row, Diff)>> = BTreeMap::new();
            for (row, d) in eval(input, catalog) {
                let key: Row = group_key.iter().map(|k| k.eval(row.datums()).unwrap()).collect();
                groups.entry(key).or_default().push((row, d));
            }
            for (key, rows) in groups {
                let mut datums = key.into_datums();
                for agg in aggregates {
                    let mut values: BTreeMap<Datum, Diff> = BTreeMap::new();
                    for (row, d) in &rows {
                        *values.entry(agg.expr.eval(row.datums()).unwrap()).or_insert(0) += d;
                    }
                    let values: Vec<(Datum, Diff)> = values
                        .into_iter()
                        .filter(|(_, d)| *d > 0)
                        .map(|(v, d)| (v, if agg.distinct { 1 } else { d }))
                        .collect();
                    datums.push(agg.func.eval(&values).unwrap());
                }
                add(&mut out, Row::new(datums), 1);
            }
        }
        RelationExpr::Distinct { input } => {
            eval(input, catalog).into_iter().filter(|(_, d)| *d > 0).for_each(|(r, _)| add(&mut out, r, 1))
        }
        RelationExpr::Union { inputs } => {
            inputs.iter().flat_map(|i| eval(i, catalog)).for_each(|(r, d)| add(&mut out, r, d))
        }
        RelationExpr::Negate { input } => eval(input, catalog).into_iter().for_each(|(r, d)| add(&mut out, r, -d)),
        RelationExpr::Threshold { input } => {
            eval(input, catalog).into_iter().filter(|(_, d)| *d > 0).for_each(|(r, d)| add(&mut out, r, d))
        }
        RelationExpr::TopK { input, group_key, order_by, limit, offset, with_ties } => {
            let mut groups: BTreeMap<Row, Vec<Row>> = BTreeMap::new();
            for (row, d) in eval(input, catalog) {
                for _ in 0..d {
                    groups.entry(row.project(group_key)).or_default().push(row.clone());
                }
            }
            for (_, mut rows) in groups {
                sort_rows(&mut rows, order_by);
                let mut end = offset.saturating_add(limit.unwrap_or(usize::MAX)).min(rows.len());
                let peers = |a: &Row, b: &Row| order_by.iter().all(|o| a.datums()[o.column] == b.datums()[o.column]);
                while *with_ties && end > *offset && end < rows.len() && peers(&rows[end - 1], &rows[end]) {
                    end += 1;
                }
                rows.into_iter().take(end).skip(*offset).for_each(|r| add(&mut out, r, 1));
            }
        }
    }
    consolidate(out)
}

#[allow(clippy::too_many_arguments)]
fn join(
    l: &Multiset,
    r: &Multiset,
    left_key: &[ScalarExpr],
    right_key: &[ScalarExpr],
    residual: &[ScalarExpr],
    kind: JoinKind,
    left_arity: usize,
    right_arity: usize,
    out: &mut Multiset,
) {
    let keys = |row: &Row, exprs: &[ScalarExpr]| -> Option<Vec<Datum>> {
        let k: Vec<Datum> = exprs.iter().map(|e| e.eval(row.datums()).unwrap()).collect();
        if k.iter().any(Datum::is_null) {
            None
        } else {
            Some(k)
        }
    };
    let mut right_matched = vec![false; r.len()];
    for (lrow, ld) in l {
        let mut matched = false;
        for (ri, (rrow, rd)) in r.iter().enumerate() {
            let key_ok = left_key.is_empty()
                || (keys(lrow, left_key).is_some() && keys(lrow, left_key) == keys(rrow, right_key));
            let row = lrow.concat(rrow);
            if key_ok && residual.iter().all(|p| p.eval(row.datums()).unwrap().is_true()) {
                matched = true;
                right_matched[ri] = true;
                add(out, row, ld * rd);
            }
        }
        if !matched && matches!(kind, JoinKind::LeftOuter | JoinKind::FullOuter) {
            add(out, lrow.concat(&Row::new(vec![Datum::Null; right_arity])), *ld);
        }
    }
    if matches!(kind, JoinKind::RightOuter | JoinKind::FullOuter) {
        for ((rrow, rd), matched) in r.iter().zip(right_matched) {
            if !matched {
                add(out, Row::new(vec![Datum::Null; left_arity]).concat(rrow), *rd);
            }
        }
    }
}

fn sort_rows(rows: &mut [Row], order_by: &[ColumnOrder]) {
    rows.sort_by(|a, b| {
        for o in order_by {
            let (x, y) = (&a.datums()[o.column], &b.datums()[o.column]);
            let ord = match (x.is_null(), y.is_null()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => {
                    if o.nulls_last {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Less
                    }
                }
                (false, true) => {
                    if o.nulls_last {
                        std::cmp::Ordering::Less
                    } else {
                        std::cmp::Ordering::Greater
                    }
                }
                (false, false) => {
                    if o.desc {
                        y.cmp(x)
                    } else {
                        x.cmp(y)
                    }
                }
            };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        std::cmp::Ordering::Equal
    });
}

/// The rows a client would see: the multiset expanded, then ORDER BY (or a stable sort when there
/// is none, so that tests can compare), OFFSET, LIMIT and the final projection.
pub fn finish(set: Multiset, finishing: &RowSetFinishing) -> Vec<Vec<Datum>> {
    let mut rows: Vec<Row> = Vec::new();
    for (row, d) in set {
        assert!(d > 0, "negative multiplicity {d} for {row:?}");
        for _ in 0..d {
            rows.push(row.clone());
        }
    }
    sort_rows(&mut rows, &finishing.order_by);
    rows.into_iter()
        .skip(finishing.offset)
        .take(finishing.limit.unwrap_or(usize::MAX))
        .map(|r| r.project(&finishing.project).datums().to_vec())
        .collect()
}
