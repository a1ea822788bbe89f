//! Planning of writes to tables: `INSERT`, `UPDATE` and `DELETE`.
//!
//! Values are cast to the column types as assignments (PostgreSQL's rules), missing columns get
//! their DEFAULT (read back from the table's `create_sql`) or NULL, and NOT NULL is checked where
//! the value is known at plan time. Values only known at run time are the coordinator's to check.

use freshet_expr::func::Operand;
use freshet_expr::{RelationExpr, ScalarExpr, TypedExpr};
use freshet_repr::{ColumnType, Datum, RelationType, Row, ScalarType};
use sqlparser::ast;

use crate::catalog::{CatalogItem, ObjectKind};
use crate::plan::ddl::{apply_finishing, assignment_cast, plan_default};
use crate::plan::query::{plan_operand_over, plan_query, plan_scalar_over};
use crate::plan::{MutationKind, Plan};
use crate::{names, Params, SessionCatalog, SqlError};

/// Resolves the table a write targets; only tables can be written.
fn resolve_table(catalog: &dyn SessionCatalog, name: &ast::ObjectName, verb: &str) -> Result<CatalogItem, SqlError> {
    let name = names::object_name(name)?;
    let item = catalog.resolve(&name).ok_or_else(|| SqlError::UnknownRelation(name.clone()))?;
    if item.object_kind != ObjectKind::Table {
        return Err(SqlError::WrongObjectType(format!("cannot {verb} {} \"{name}\"", item.object_kind.name())));
    }
    Ok(item)
}

/// The index of column `column` of `table`.
fn column_index(table: &CatalogItem, column: &str) -> Result<usize, SqlError> {
    table
        .desc
        .column_index(column)
        .ok_or_else(|| SqlError::UnknownTableColumn { column: column.into(), relation: table.name.clone() })
}

/// Whether an expression is the bare keyword `DEFAULT` (sqlparser reads it as an identifier).
fn is_default_keyword(expr: &ast::Expr) -> bool {
    matches!(expr, ast::Expr::Identifier(id) if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("default"))
}

/// The DEFAULT expressions of a table's columns, read from its `create_sql`.
struct Defaults<'a> {
    catalog: &'a dyn SessionCatalog,
    table: &'a CatalogItem,
    exprs: Vec<Option<ast::Expr>>,
}

impl<'a> Defaults<'a> {
    fn new(catalog: &'a dyn SessionCatalog, table: &'a CatalogItem) -> Self {
        let mut exprs = vec![None; table.desc.arity()];
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let parsed = sqlparser::parser::Parser::parse_sql(&dialect, &table.create_sql).unwrap_or_default();
        if let Some(ast::Statement::CreateTable(create)) = parsed.first() {
            for def in &create.columns {
                let default = def.options.iter().find_map(|o| match &o.option {
                    ast::ColumnOption::Default(expr) => Some(expr.clone()),
                    _ => None,
                });
                if let Some(i) = table.desc.column_index(&names::ident(&def.name)) {
                    exprs[i] = default;
                }
            }
        }
        Defaults { catalog, table, exprs }
    }

    /// The value column `i` takes when none is given.
    fn value(&self, i: usize) -> Result<TypedExpr, SqlError> {
        let (name, typ) = (&self.table.desc.names[i], self.table.desc.typ.columns[i]);
        let value = match &self.exprs[i] {
            Some(expr) => plan_default(self.catalog, expr, typ.scalar_type, name)?,
            None => TypedExpr::literal(Datum::Null, typ.scalar_type),
        };
        check_not_null(self.table, i, &value.expr)?;
        Ok(value)
    }
}

/// Fails with 23502 when a NOT NULL column of `table` is given a literal NULL.
fn check_not_null(table: &CatalogItem, i: usize, expr: &ScalarExpr) -> Result<(), SqlError> {
    let nullable = table.desc.typ.columns[i].nullable;
    if !nullable && matches!(expr, ScalarExpr::Literal(Datum::Null, _)) {
        return Err(SqlError::NotNullViolation { column: table.desc.names[i].clone(), relation: table.name.clone() });
    }
    Ok(())
}

/// The value assigned to column `i` of `table` from a SQL expression over `scope` (the table's
/// own row for UPDATE, nothing for INSERT ... VALUES).
fn assigned_value(
    defaults: &Defaults,
    scope: &freshet_repr::RelationDesc,
    i: usize,
    expr: &ast::Expr,
    params: &Params,
) -> Result<TypedExpr, SqlError> {
    if is_default_keyword(expr) {
        return defaults.value(i);
    }
    let table = defaults.table;
    let operand = plan_operand_over(defaults.catalog, &table.name, scope, expr, params)?;
    let (name, typ) = (&table.desc.names[i], table.desc.typ.columns[i]);
    let value = assignment_cast(operand, typ.scalar_type, name)?;
    check_not_null(table, i, &value.expr)?;
    Ok(value)
}

/// The table columns an INSERT names, in the order given (all, in table order, when none are).
fn target_columns(table: &CatalogItem, columns: &[ast::ObjectName]) -> Result<Vec<usize>, SqlError> {
    if columns.is_empty() {
        return Ok((0..table.desc.arity()).collect());
    }
    let mut targets = Vec::with_capacity(columns.len());
    for column in columns {
        let Some(ast::ObjectNamePart::Identifier(ident)) = column.0.last() else {
            return Err(SqlError::Parse(format!("invalid column name {column}")));
        };
        let i = column_index(table, &names::ident(ident))?;
        if targets.contains(&i) {
            return Err(SqlError::DuplicateColumn(table.desc.names[i].clone()));
        }
        targets.push(i);
    }
    Ok(targets)
}

/// Without a column list, an INSERT of fewer values than columns fills the first ones and leaves
/// the rest to their defaults, as PostgreSQL does; with a list, every named column needs a value.
fn implicit_targets(targets: &[usize], columns: &[ast::ObjectName], given: usize) -> Vec<usize> {
    let filled = if columns.is_empty() { given.min(targets.len()) } else { targets.len() };
    targets[..filled].to_vec()
}

fn check_arity(given: usize, targets: usize) -> Result<(), SqlError> {
    match given.cmp(&targets) {
        std::cmp::Ordering::Greater => Err(SqlError::Parse("INSERT has more expressions than target columns".into())),
        std::cmp::Ordering::Less => Err(SqlError::Parse("INSERT has more target columns than expressions".into())),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// The rows of `INSERT ... VALUES` when the query is nothing but a VALUES list.
fn plain_values(query: &ast::Query) -> Option<&ast::Values> {
    let plain =
        query.with.is_none() && query.order_by.is_none() && query.limit_clause.is_none() && query.fetch.is_none();
    match query.body.as_ref() {
        ast::SetExpr::Values(values) if plain => Some(values),
        _ => None,
    }
}

pub(crate) fn plan_insert(
    catalog: &dyn SessionCatalog,
    insert: &ast::Insert,
    params: &Params,
) -> Result<Plan, SqlError> {
    if insert.returning.is_some() {
        return Err(SqlError::Unsupported("INSERT ... RETURNING".into()));
    }
    if insert.on.is_some() {
        return Err(SqlError::Unsupported("INSERT ... ON CONFLICT".into()));
    }
    let ast::TableObject::TableName(name) = &insert.table else {
        return Err(SqlError::Unsupported("INSERT INTO TABLE FUNCTION".into()));
    };
    let table = resolve_table(catalog, name, "insert into")?;
    let targets = target_columns(&table, &insert.columns)?;
    let defaults = Defaults::new(catalog, &table);
    let rows = match insert.source.as_deref() {
        // INSERT ... DEFAULT VALUES
        None => rows_relation(&table, vec![Vec::new()], &[], &defaults)?,
        Some(query) => match plain_values(query) {
            Some(values) => {
                let given = values.rows.first().map_or(targets.len(), |row| row.content.len());
                let targets = implicit_targets(&targets, &insert.columns, given);
                let empty = freshet_repr::RelationDesc::default();
                let mut rows = Vec::with_capacity(values.rows.len());
                for row in &values.rows {
                    check_arity(row.content.len(), targets.len())?;
                    let row = row
                        .content
                        .iter()
                        .zip(&targets)
                        .map(|(expr, &i)| assigned_value(&defaults, &empty, i, expr, params))
                        .collect::<Result<Vec<_>, _>>()?;
                    rows.push(row);
                }
                rows_relation(&table, rows, &targets, &defaults)?
            }
            None => insert_select(catalog, query, params, (&targets, &insert.columns), &defaults)?,
        },
    };
    Ok(Plan::Insert { target: table.id, rows })
}

/// The full table rows for `rows` (values of `targets`, in that order): a constant when every value
/// is known now, else a union of one-row maps.
fn rows_relation(
    table: &CatalogItem,
    rows: Vec<Vec<TypedExpr>>,
    targets: &[usize],
    defaults: &Defaults,
) -> Result<RelationExpr, SqlError> {
    let mut full_rows = Vec::with_capacity(rows.len());
    for row in rows {
        let mut full = Vec::with_capacity(table.desc.arity());
        for i in 0..table.desc.arity() {
            match targets.iter().position(|t| *t == i) {
                Some(j) => full.push(row[j].expr.clone()),
                None => full.push(defaults.value(i)?.expr),
            }
        }
        full_rows.push(full);
    }
    let typ = table.desc.typ.clone();
    if full_rows.iter().flatten().all(ScalarExpr::is_constant) {
        let mut constant = Vec::with_capacity(full_rows.len());
        for row in full_rows {
            let datums = row.iter().map(|e| e.eval(&[])).collect::<Result<Vec<_>, _>>()?;
            for (i, datum) in datums.iter().enumerate() {
                check_not_null(table, i, &ScalarExpr::Literal(datum.clone(), typ.columns[i].scalar_type))?;
            }
            constant.push((Row::new(datums), 1));
        }
        return Ok(RelationExpr::Constant { rows: constant, typ });
    }
    let unit = || RelationExpr::Constant { rows: vec![(Row::empty(), 1)], typ: RelationType::default() };
    let mut inputs: Vec<RelationExpr> = full_rows.into_iter().map(|row| unit().map(row)).collect();
    Ok(if inputs.len() == 1 { inputs.remove(0) } else { RelationExpr::Union { inputs } })
}

fn insert_select(
    catalog: &dyn SessionCatalog,
    query: &ast::Query,
    params: &Params,
    (targets, columns): (&[usize], &[ast::ObjectName]),
    defaults: &Defaults,
) -> Result<RelationExpr, SqlError> {
    let table = defaults.table;
    let (expr, desc, finishing) = plan_query(catalog, query, params)?;
    let expr = apply_finishing(expr, &finishing);
    let targets = &implicit_targets(targets, columns, desc.arity());
    check_arity(desc.arity(), targets.len())?;
    let mut scalars = Vec::with_capacity(table.desc.arity());
    for i in 0..table.desc.arity() {
        let value = match targets.iter().position(|t| *t == i) {
            Some(j) => {
                let input = TypedExpr::new(ScalarExpr::Column(j), desc.typ.columns[j]);
                assignment_cast(Operand::Typed(input), table.desc.typ.columns[i].scalar_type, &table.desc.names[i])?
            }
            None => defaults.value(i)?,
        };
        scalars.push(value.expr);
    }
    let arity = desc.arity();
    Ok(expr.map(scalars).project((arity..arity + table.desc.arity()).collect()))
}

/// The single table an UPDATE or DELETE names, and the name its columns may be qualified with.
fn mutated_table(
    catalog: &dyn SessionCatalog,
    from: &ast::TableWithJoins,
    verb: &str,
) -> Result<(CatalogItem, String), SqlError> {
    if !from.joins.is_empty() {
        return Err(SqlError::Unsupported(format!("{verb} with joins")));
    }
    let ast::TableFactor::Table { name, alias, .. } = &from.relation else {
        return Err(SqlError::Unsupported(format!("{verb} of anything but a table")));
    };
    let table = resolve_table(catalog, name, verb)?;
    let qualifier = alias.as_ref().map_or_else(|| table.name.clone(), |a| names::ident(&a.name));
    Ok((table, qualifier))
}

/// The rows of `table` that `selection` (a WHERE clause) picks.
fn selected_rows(
    catalog: &dyn SessionCatalog,
    table: &CatalogItem,
    qualifier: &str,
    selection: Option<&ast::Expr>,
    params: &Params,
) -> Result<RelationExpr, SqlError> {
    let get = RelationExpr::Get { id: table.id, typ: table.desc.typ.clone() };
    let Some(selection) = selection else {
        return Ok(get);
    };
    let predicate = plan_scalar_over(catalog, qualifier, &table.desc, selection, params)?;
    if predicate.typ.scalar_type != ScalarType::Bool {
        return Err(SqlError::Type(freshet_expr::TypeError::DatatypeMismatch(format!(
            "argument of WHERE must be type boolean, not type {}",
            predicate.typ.scalar_type
        ))));
    }
    Ok(get.filter(vec![predicate.expr]))
}

pub(crate) fn plan_update(
    catalog: &dyn SessionCatalog,
    update: &ast::Update,
    params: &Params,
) -> Result<Plan, SqlError> {
    if update.returning.is_some() {
        return Err(SqlError::Unsupported("UPDATE ... RETURNING".into()));
    }
    if update.from.is_some() || !update.order_by.is_empty() || update.limit.is_some() {
        return Err(SqlError::Unsupported("UPDATE with FROM, ORDER BY or LIMIT".into()));
    }
    let (table, qualifier) = mutated_table(catalog, &update.table, "update")?;
    let defaults = Defaults::new(catalog, &table);
    let mut exprs: Vec<Option<ScalarExpr>> = vec![None; table.desc.arity()];
    for assignment in &update.assignments {
        let ast::AssignmentTarget::ColumnName(column) = &assignment.target else {
            return Err(SqlError::Unsupported("UPDATE with a multiple-column assignment".into()));
        };
        let Some(ast::ObjectNamePart::Identifier(ident)) = column.0.last() else {
            return Err(SqlError::Parse(format!("invalid column name {column}")));
        };
        let i = column_index(&table, &names::ident(ident))?;
        if exprs[i].is_some() {
            return Err(SqlError::Parse(format!("multiple assignments to same column \"{}\"", table.desc.names[i])));
        }
        exprs[i] = Some(assigned_value(&defaults, &table.desc, i, &assignment.value, params)?.expr);
    }
    let selection = selected_rows(catalog, &table, &qualifier, update.selection.as_ref(), params)?;
    let exprs = exprs.into_iter().enumerate().map(|(i, e)| e.unwrap_or(ScalarExpr::Column(i))).collect();
    Ok(Plan::Mutate { target: table.id, selection, kind: MutationKind::Update(exprs) })
}

pub(crate) fn plan_delete(
    catalog: &dyn SessionCatalog,
    delete: &ast::Delete,
    params: &Params,
) -> Result<Plan, SqlError> {
    if delete.returning.is_some() {
        return Err(SqlError::Unsupported("DELETE ... RETURNING".into()));
    }
    let from = match &delete.from {
        ast::FromTable::WithFromKeyword(from) | ast::FromTable::WithoutKeyword(from) => from,
    };
    let [from] = from.as_slice() else {
        return Err(SqlError::Unsupported("DELETE from several tables".into()));
    };
    if !delete.tables.is_empty() || delete.using.is_some() || !delete.order_by.is_empty() || delete.limit.is_some() {
        return Err(SqlError::Unsupported("DELETE with USING, ORDER BY or LIMIT".into()));
    }
    let (table, qualifier) = mutated_table(catalog, from, "delete from")?;
    let selection = selected_rows(catalog, &table, &qualifier, delete.selection.as_ref(), params)?;
    Ok(Plan::Mutate { target: table.id, selection, kind: MutationKind::Delete })
}

/// The types bare `$n` placeholders take from the columns they are assigned to (`VALUES ($1)`,
/// `SET c = $1`), for describing statements.
pub(crate) fn assigned_param_types(
    catalog: &dyn SessionCatalog,
    statement: &ast::Statement,
) -> Vec<(usize, ScalarType)> {
    let mut found = Vec::new();
    let mut note = |expr: &ast::Expr, typ: ColumnType| {
        if let ast::Expr::Value(v) = expr {
            if let ast::Value::Placeholder(p) = &v.value {
                if let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                    found.push((n, typ.scalar_type));
                }
            }
        }
    };
    match statement {
        ast::Statement::Insert(insert) => {
            let ast::TableObject::TableName(name) = &insert.table else { return found };
            let Ok(table) = resolve_table(catalog, name, "insert into") else { return found };
            let Ok(targets) = target_columns(&table, &insert.columns) else { return found };
            if let Some(values) = insert.source.as_deref().and_then(plain_values) {
                for row in &values.rows {
                    for (expr, &i) in row.content.iter().zip(&targets) {
                        note(expr, table.desc.typ.columns[i]);
                    }
                }
            }
        }
        ast::Statement::Update(update) => {
            let Ok((table, _)) = mutated_table(catalog, &update.table, "update") else { return found };
            for assignment in &update.assignments {
                if let ast::AssignmentTarget::ColumnName(ast::ObjectName(parts)) = &assignment.target {
                    if let Some(ast::ObjectNamePart::Identifier(ident)) = parts.last() {
                        if let Some(i) = table.desc.column_index(&names::ident(ident)) {
                            note(&assignment.value, table.desc.typ.columns[i]);
                        }
                    }
                }
            }
        }
        _ => {}
    }
    found
}
