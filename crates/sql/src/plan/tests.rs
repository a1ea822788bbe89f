//! Tests of statement planning (DDL, DML, SHOW/SET, describe) over an in-memory catalog.

use freshet_expr::{RelationExpr, ScalarExpr};
use freshet_repr::{ColumnType, Datum, GlobalId, RelationDesc, Row, ScalarType};

use crate::catalog::{CatalogItem, ItemKind, ObjectKind};
use crate::plan::{MutationKind, Plan};
use crate::{describe, parse, plan, Params, SessionCatalog, SqlError};

/// A catalog of items and "reads" edges (dependent, dependency).
#[derive(Default)]
pub(super) struct TestCatalog {
    pub items: Vec<CatalogItem>,
    pub reads: Vec<(GlobalId, GlobalId)>,
}

impl TestCatalog {
    pub fn add(
        &mut self,
        name: &str,
        kind: ObjectKind,
        columns: &[(&str, ScalarType, bool)],
        create_sql: &str,
    ) -> GlobalId {
        let id = GlobalId(self.items.len() as u64 + 1);
        let desc = RelationDesc::new(
            columns.iter().map(|(n, t, nullable)| (n.to_string(), ColumnType::new(*t, *nullable))).collect(),
        );
        let item_kind = match kind {
            ObjectKind::View => ItemKind::View(RelationExpr::Get { id, typ: desc.typ.clone() }),
            _ => ItemKind::Stored,
        };
        self.items.push(CatalogItem {
            id,
            name: name.into(),
            object_kind: kind,
            desc,
            kind: item_kind,
            create_sql: create_sql.into(),
        });
        id
    }

    /// `t (a int NOT NULL, b text DEFAULT 'dflt', c bigint)`, view `v` over `t`, source `s` with
    /// progress `s_progress`, materialized view `m` over `s`.
    pub fn standard() -> TestCatalog {
        let mut catalog = TestCatalog::default();
        let t = catalog.add(
            "t",
            ObjectKind::Table,
            &[("a", ScalarType::Int32, false), ("b", ScalarType::Text, true), ("c", ScalarType::Int64, true)],
            "CREATE TABLE t (a INT NOT NULL, b TEXT DEFAULT 'dflt', c BIGINT)",
        );
        let v =
            catalog.add("v", ObjectKind::View, &[("a", ScalarType::Int32, false)], "CREATE VIEW v AS SELECT a FROM t");
        let s = catalog.add("s", ObjectKind::Source, &[("text", ScalarType::Text, false)], "CREATE SOURCE s ...");
        let p = catalog.add("s_progress", ObjectKind::Progress, &[("sequence", ScalarType::Text, true)], "");
        let m = catalog.add("m", ObjectKind::MaterializedView, &[("text", ScalarType::Text, false)], "");
        catalog.reads = vec![(v, t), (p, s), (m, s)];
        catalog
    }

    fn id(&self, name: &str) -> GlobalId {
        self.resolve(name).unwrap().id
    }
}

impl SessionCatalog for TestCatalog {
    fn resolve(&self, name: &str) -> Option<CatalogItem> {
        self.items.iter().find(|i| i.name == name).cloned()
    }

    fn list(&self, kind: ObjectKind) -> Vec<CatalogItem> {
        let mut items: Vec<CatalogItem> = self.items.iter().filter(|i| i.object_kind == kind).cloned().collect();
        items.sort_by(|a, b| a.name.cmp(&b.name));
        items
    }

    fn dependents(&self, id: GlobalId) -> Vec<CatalogItem> {
        let ids: Vec<GlobalId> = self.reads.iter().filter(|(_, on)| *on == id).map(|(d, _)| *d).collect();
        self.items.iter().filter(|i| ids.contains(&i.id)).cloned().collect()
    }

    fn session_variable(&self, name: &str) -> Option<String> {
        (name == "database").then(|| "freshet".to_string())
    }
}

pub(super) fn plan_sql(catalog: &TestCatalog, sql: &str) -> Result<Plan, SqlError> {
    let statements = parse(sql)?;
    assert_eq!(statements.len(), 1, "{sql}");
    plan(catalog, &statements[0], &Params::default())
}

fn plan_ok(sql: &str) -> Plan {
    plan_sql(&TestCatalog::standard(), sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Plans `sql`, expecting an error; returns its SQLSTATE and message.
pub(super) fn plan_err(catalog: &TestCatalog, sql: &str) -> (&'static str, String) {
    match plan_sql(catalog, sql) {
        Ok(plan) => panic!("{sql} planned: {plan:?}"),
        Err(e) => (e.sqlstate(), e.to_string()),
    }
}

fn err(sql: &str) -> (&'static str, String) {
    plan_err(&TestCatalog::standard(), sql)
}

#[test]
fn create_table_types_and_nullability() {
    let Plan::CreateTable { name, desc, if_not_exists, create_sql } =
        plan_ok("CREATE TABLE IF NOT EXISTS Items (id int8 NOT NULL, name varchar(20), price numeric(10,2) NULL, at timestamp(3) with time zone, d double precision DEFAULT 1)")
    else {
        panic!()
    };
    assert_eq!(name, "items");
    assert!(if_not_exists);
    assert!(create_sql.starts_with("CREATE TABLE IF NOT EXISTS Items"), "{create_sql}");
    let columns: Vec<(&str, ScalarType, bool)> = desc.iter().map(|(n, t)| (n, t.scalar_type, t.nullable)).collect();
    assert_eq!(
        columns,
        vec![
            ("id", ScalarType::Int64, false),
            ("name", ScalarType::Text, true),
            ("price", ScalarType::Numeric, true),
            ("at", ScalarType::TimestampTz, true),
            ("d", ScalarType::Float64, true),
        ]
    );
}

#[test]
fn create_table_errors() {
    assert_eq!(err("CREATE TABLE x (a int, A text)"), ("42701", "column \"a\" specified more than once".into()));
    assert_eq!(err("CREATE TABLE x (a widget)"), ("42704", "type \"widget\" does not exist".into()));
    assert_eq!(err("CREATE TABLE t (a int)"), ("42P07", "relation \"t\" already exists".into()));
    assert_eq!(err("CREATE TABLE v (a int)").0, "42P07");
    assert!(matches!(plan_ok("CREATE TABLE IF NOT EXISTS t (a int)"), Plan::CreateTable { if_not_exists: true, .. }));
    assert_eq!(err("CREATE TABLE x (a int PRIMARY KEY)").0, "0A000");
    assert_eq!(err("CREATE TABLE x (a int, PRIMARY KEY (a))").0, "0A000");
    assert_eq!(err("CREATE TABLE x (a int[])").0, "0A000");
    assert_eq!(err("CREATE TABLE other.x (a int)"), ("3F000", "schema \"other\" does not exist".into()));
}

#[test]
fn create_view_applies_limit_and_aliases() {
    let Plan::CreateView { name, expr, desc, materialized, or_replace, .. } =
        plan_ok("CREATE MATERIALIZED VIEW top (x) AS SELECT a FROM t ORDER BY a LIMIT 3")
    else {
        panic!()
    };
    assert_eq!(name, "top");
    assert!(materialized && !or_replace);
    assert_eq!(desc.names, vec!["x".to_string()]);
    let mut saw_topk = false;
    expr.visit(&mut |e| saw_topk |= matches!(e, RelationExpr::TopK { limit: Some(3), .. }));
    assert!(saw_topk, "{expr:?}");
    let Plan::CreateView { expr, .. } = plan_ok("CREATE VIEW ordered AS SELECT a FROM t ORDER BY a") else { panic!() };
    let mut saw_topk = false;
    expr.visit(&mut |e| saw_topk |= matches!(e, RelationExpr::TopK { .. }));
    assert!(!saw_topk, "ORDER BY alone is dropped: {expr:?}");
}

#[test]
fn create_view_name_checks() {
    assert_eq!(err("CREATE VIEW t AS SELECT 1").0, "42P07");
    assert!(matches!(plan_ok("CREATE OR REPLACE VIEW v AS SELECT 1 AS a"), Plan::CreateView { or_replace: true, .. }));
    assert_eq!(err("CREATE OR REPLACE VIEW t AS SELECT 1"), ("42809", "\"t\" is not a view".into()));
    assert_eq!(err("CREATE VIEW w (x, y) AS SELECT 1").1, "CREATE VIEW specifies more column names than columns");
    assert_eq!(err("CREATE VIEW w AS SELECT 1 AS x, 2 AS x").0, "42701");
}

#[test]
fn insert_values_casts_and_fills_defaults() {
    let catalog = TestCatalog::standard();
    let Plan::Insert { target, rows } = plan_sql(&catalog, "INSERT INTO t (c, a) VALUES (1, '5'), (2, 6)").unwrap()
    else {
        panic!()
    };
    assert_eq!(target, catalog.id("t"));
    let RelationExpr::Constant { rows, typ } = rows else { panic!("{rows:?}") };
    assert_eq!(typ, catalog.resolve("t").unwrap().desc.typ);
    let dflt = Datum::Text("dflt".into());
    assert_eq!(
        rows,
        vec![
            (Row::new(vec![Datum::Int32(5), dflt.clone(), Datum::Int64(1)]), 1),
            (Row::new(vec![Datum::Int32(6), dflt, Datum::Int64(2)]), 1),
        ]
    );
    let Plan::Insert { rows: RelationExpr::Constant { rows, .. }, .. } =
        plan_sql(&catalog, "INSERT INTO t VALUES (1, DEFAULT, NULL)").unwrap()
    else {
        panic!()
    };
    assert_eq!(rows[0].0, Row::new(vec![Datum::Int32(1), Datum::Text("dflt".into()), Datum::Null]));
}

#[test]
fn insert_errors() {
    assert_eq!(
        err("INSERT INTO t (a, b) VALUES (NULL, 'x')"),
        ("23502", "null value in column \"a\" of relation \"t\" violates not-null constraint".into())
    );
    assert_eq!(err("INSERT INTO t (b) VALUES ('x')").0, "23502");
    assert_eq!(
        err("INSERT INTO t (a) VALUES (1, 2)"),
        ("42601", "INSERT has more expressions than target columns".into())
    );
    assert_eq!(
        err("INSERT INTO t (a, b) VALUES (1)"),
        ("42601", "INSERT has more target columns than expressions".into())
    );
    assert_eq!(
        err("INSERT INTO t (zz) VALUES (1)"),
        ("42703", "column \"zz\" of relation \"t\" does not exist".into())
    );
    assert_eq!(err("INSERT INTO t (a, a) VALUES (1, 2)").0, "42701");
    assert_eq!(err("INSERT INTO v VALUES (1)"), ("42809", "cannot insert into view \"v\"".into()));
    assert_eq!(err("INSERT INTO nope VALUES (1)"), ("42P01", "relation \"nope\" does not exist".into()));
    assert_eq!(err("INSERT INTO t VALUES (1) RETURNING a").0, "0A000");
}

#[test]
fn insert_select_maps_to_table_columns() {
    let catalog = TestCatalog::standard();
    let Plan::Insert { rows, .. } = plan_sql(&catalog, "INSERT INTO t (a) SELECT a FROM t").unwrap() else { panic!() };
    assert_eq!(rows.arity(), 3);
    assert_eq!(rows.typ().columns[2].scalar_type, ScalarType::Int64);
    assert!(rows.depends_on().contains(&catalog.id("t")));
}

#[test]
fn update_maps_every_column() {
    let catalog = TestCatalog::standard();
    let Plan::Mutate { target, selection, kind } =
        plan_sql(&catalog, "UPDATE t SET c = a, b = 'new' WHERE a = 1").unwrap()
    else {
        panic!()
    };
    assert_eq!(target, catalog.id("t"));
    let MutationKind::Update(exprs) = kind else { panic!() };
    assert_eq!(exprs.len(), 3);
    assert_eq!(exprs[0], ScalarExpr::Column(0));
    assert_eq!(exprs[1], ScalarExpr::Literal(Datum::Text("new".into()), ScalarType::Text));
    assert_ne!(exprs[2], ScalarExpr::Column(2));
    assert!(matches!(selection, RelationExpr::Filter { .. }), "{selection:?}");
    assert_eq!(err("UPDATE t SET a = NULL").0, "23502");
    assert_eq!(err("UPDATE t SET zz = 1").0, "42703");
    assert_eq!(err("UPDATE t SET a = 1, a = 2").1, "multiple assignments to same column \"a\"");
    assert_eq!(err("UPDATE t SET a = 1 WHERE a").1, "argument of WHERE must be type boolean, not type integer");
    assert_eq!(err("UPDATE s SET text = 'x'").0, "42809");
}

#[test]
fn delete_selects_rows() {
    let catalog = TestCatalog::standard();
    let Plan::Mutate { selection, kind, .. } = plan_sql(&catalog, "DELETE FROM t").unwrap() else { panic!() };
    assert_eq!(kind, MutationKind::Delete);
    assert_eq!(selection, RelationExpr::Get { id: catalog.id("t"), typ: catalog.resolve("t").unwrap().desc.typ });
    let Plan::Mutate { selection, .. } = plan_sql(&catalog, "DELETE FROM t AS x WHERE x.b = 'q'").unwrap() else {
        panic!()
    };
    assert!(matches!(selection, RelationExpr::Filter { .. }));
    assert_eq!(err("DELETE FROM v").1, "cannot delete from view \"v\"");
}

#[test]
fn drop_resolves_and_checks_dependents() {
    assert_eq!(err("DROP TABLE nope"), ("42P01", "table \"nope\" does not exist".into()));
    assert_eq!(err("DROP SOURCE nope").1, "source \"nope\" does not exist");
    assert_eq!(err("DROP VIEW t"), ("42809", "\"t\" is not a view".into()));
    assert_eq!(err("DROP SOURCE s_progress").1, "\"s_progress\" is not a source");
    assert_eq!(err("DROP TABLE t"), ("2BP01", "cannot drop table t because other objects depend on it".into()));
    assert_eq!(err("DROP SOURCE s RESTRICT").1, "cannot drop source s because other objects depend on it");
    let drop = |sql| match plan_ok(sql) {
        Plan::Drop { kind, names, if_exists, cascade } => (kind, names, if_exists, cascade),
        other => panic!("{other:?}"),
    };
    assert_eq!(drop("DROP TABLE IF EXISTS nope, t CASCADE"), (ObjectKind::Table, vec!["t".into()], true, true));
    assert_eq!(drop("DROP VIEW v"), (ObjectKind::View, vec!["v".into()], false, false));
    assert_eq!(drop("DROP MATERIALIZED VIEW m, m"), (ObjectKind::MaterializedView, vec!["m".into()], false, false));
    let mut catalog = TestCatalog::standard();
    let m = catalog.id("m");
    catalog.reads.retain(|(dependent, _)| *dependent != m);
    assert!(matches!(plan_sql(&catalog, "DROP SOURCE s"), Ok(Plan::Drop { .. })), "own progress does not block");
    assert_eq!(err("DROP INDEX i").0, "0A000");
}

#[test]
fn show_set_and_transactions() {
    assert_eq!(plan_ok("SHOW SOURCES"), Plan::ShowObjects { kind: ObjectKind::Source });
    assert_eq!(plan_ok("SHOW COLUMNS FROM t"), Plan::ShowColumns { id: GlobalId(1) });
    assert_eq!(err("SHOW COLUMNS FROM nope").0, "42P01");
    assert_eq!(plan_ok("SHOW CREATE SOURCE s"), Plan::ShowCreate { kind: ObjectKind::Source, name: "s".into() });
    assert_eq!(err("SHOW CREATE VIEW t").1, "\"t\" is not a view");
    assert_eq!(plan_ok("SHOW TIME ZONE"), Plan::ShowVariable { name: "timezone".into() });
    assert_eq!(plan_ok("SHOW Search_Path"), Plan::ShowVariable { name: "search_path".into() });
    assert_eq!(plan_ok("SET x = 1"), Plan::SetVariable { name: "x".into(), value: Some("1".into()) });
    assert_eq!(plan_ok("SET SESSION x TO 'a b'"), Plan::SetVariable { name: "x".into(), value: Some("a b".into()) });
    assert_eq!(plan_ok("SET x TO DEFAULT"), Plan::SetVariable { name: "x".into(), value: None });
    assert_eq!(
        plan_ok("SET TIME ZONE 'UTC'"),
        Plan::SetVariable { name: "timezone".into(), value: Some("UTC".into()) }
    );
    assert_eq!(
        plan_ok("RESET extra_float_digits"),
        Plan::SetVariable { name: "extra_float_digits".into(), value: None }
    );
    assert_eq!(plan_ok("BEGIN"), Plan::StartTransaction);
    assert_eq!(plan_ok("START TRANSACTION"), Plan::StartTransaction);
    assert_eq!(plan_ok("COMMIT"), Plan::Commit);
    assert_eq!(plan_ok("END"), Plan::Commit);
    assert_eq!(plan_ok("ROLLBACK"), Plan::Rollback);
    assert_eq!(plan_ok("DISCARD ALL"), Plan::Empty);
    assert!(matches!(plan_ok("EXPLAIN SELECT a FROM t"), Plan::Explain { .. }));
    assert!(matches!(plan_ok("SELECT a FROM t"), Plan::Select { .. }));
}

#[test]
fn unsupported_statements_name_their_kind() {
    assert_eq!(err("CREATE INDEX i ON t (a)"), ("0A000", "CREATE INDEX is not supported".into()));
    assert_eq!(err("TRUNCATE t").1, "TRUNCATE is not supported");
}

#[test]
fn describe_infers_parameter_types() {
    let catalog = TestCatalog::standard();
    let describe_sql = |sql: &str, hints: &[Option<ScalarType>]| {
        let statements = parse(sql).unwrap();
        describe(&catalog, &statements[0], hints).unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    let insert = describe_sql("INSERT INTO t (c, b) VALUES ($1, $2)", &[]);
    assert_eq!(insert.params, vec![ScalarType::Int64, ScalarType::Text]);
    assert_eq!(insert.result, None);
    let hinted = describe_sql("INSERT INTO t (c) VALUES ($1)", &[Some(ScalarType::Int32)]);
    assert_eq!(hinted.params, vec![ScalarType::Int32]);
    let update = describe_sql("UPDATE t SET c = $2 WHERE a = $1", &[]);
    assert_eq!(update.params, vec![ScalarType::Int32, ScalarType::Int64]);
    let delete = describe_sql("DELETE FROM t WHERE c = $1", &[]);
    assert_eq!(delete.params, vec![ScalarType::Int64]);
    let select = describe_sql("SELECT a, b FROM t", &[]);
    assert_eq!(select.result.unwrap().names, vec!["a".to_string(), "b".to_string()]);
    let show = describe_sql("SHOW SOURCES", &[]);
    assert_eq!(show.result.unwrap().names, vec!["name".to_string(), "type".to_string()]);
    assert_eq!(describe_sql("SHOW timezone", &[]).result.unwrap().names, vec!["timezone".to_string()]);
    assert_eq!(describe_sql("CREATE TABLE z (a int)", &[]), crate::StatementDesc { params: vec![], result: None });
}

#[test]
fn insert_binds_parameters() {
    let catalog = TestCatalog::standard();
    let statements = parse("INSERT INTO t (a, c) VALUES ($1, $2)").unwrap();
    let params = Params {
        types: vec![Some(ScalarType::Int32), Some(ScalarType::Int64)],
        values: vec![Datum::Int32(7), Datum::Int64(8)],
        bind_later: false,
    };
    let Plan::Insert { rows: RelationExpr::Constant { rows, .. }, .. } =
        plan(&catalog, &statements[0], &params).unwrap()
    else {
        panic!()
    };
    assert_eq!(rows[0].0, Row::new(vec![Datum::Int32(7), Datum::Text("dflt".into()), Datum::Int64(8)]));
    let null = Params {
        types: vec![Some(ScalarType::Int32), Some(ScalarType::Int64)],
        values: vec![Datum::Null, Datum::Null],
        bind_later: false,
    };
    assert_eq!(plan(&catalog, &statements[0], &null).unwrap_err().sqlstate(), "23502");
}

#[test]
fn insert_default_values_and_views_with_if_not_exists() {
    assert_eq!(err("INSERT INTO t DEFAULT VALUES").0, "23502");
    assert!(matches!(
        plan_ok("CREATE MATERIALIZED VIEW IF NOT EXISTS m AS SELECT 1 AS x"),
        Plan::CreateView { if_not_exists: true, materialized: true, .. }
    ));
    assert_eq!(err("CREATE MATERIALIZED VIEW m AS SELECT 1 AS x").1, "relation \"m\" already exists");
}

#[test]
fn set_lists_and_explain_limits() {
    assert_eq!(
        plan_ok("SET search_path TO public, other"),
        Plan::SetVariable { name: "search_path".into(), value: Some("public, other".into()) }
    );
    assert_eq!(err("EXPLAIN INSERT INTO t VALUES (1)").0, "0A000");
    assert_eq!(plan_ok("RESET ALL"), Plan::SetVariable { name: "all".into(), value: None });
}

#[test]
fn describe_extension_statements_without_planning() {
    let catalog = TestCatalog::standard();
    let describe_sql = |sql: &str| describe(&catalog, &parse(sql).unwrap()[0], &[]).unwrap();
    let show_create = describe_sql("SHOW CREATE SOURCE not_yet");
    assert_eq!(show_create.result.unwrap().names, vec!["name".to_string(), "create_sql".to_string()]);
    assert_eq!(describe_sql("DROP SOURCE not_yet").result, None);
    assert_eq!(describe_sql("SHOW TABLES").result.unwrap().names, vec!["name".to_string()]);
    assert_eq!(describe_sql("EXPLAIN SELECT $1::int").params, vec![ScalarType::Int32]);
}

#[test]
fn set_transaction_sets_variables() {
    assert_eq!(
        plan_ok("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
        Plan::SetVariable { name: "transaction_isolation".into(), value: Some("serializable".into()) }
    );
    assert_eq!(
        plan_ok("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"),
        Plan::SetVariable { name: "default_transaction_read_only".into(), value: Some("on".into()) }
    );
}

#[test]
fn defaults_survive_the_kept_create_sql() {
    let mut catalog = TestCatalog::default();
    let Plan::CreateTable { desc, create_sql, .. } =
        plan_sql(&catalog, "create table d (x int not null default 41 + 1, y text)").unwrap()
    else {
        panic!()
    };
    let columns: Vec<(&str, ScalarType, bool)> = desc.iter().map(|(n, t)| (n, t.scalar_type, t.nullable)).collect();
    catalog.add("d", ObjectKind::Table, &columns, &create_sql);
    let Plan::Insert { rows: RelationExpr::Constant { rows, .. }, .. } =
        plan_sql(&catalog, "INSERT INTO d (y) VALUES ('a')").unwrap()
    else {
        panic!()
    };
    assert_eq!(rows[0].0, Row::new(vec![Datum::Int32(42), Datum::Text("a".into())]));
    assert_eq!(
        plan_err(&catalog, "INSERT INTO d (zz) VALUES (1)"),
        ("42703", "column \"zz\" of relation \"d\" does not exist".into())
    );
    assert_eq!(plan_err(&catalog, "CREATE TABLE e (x int DEFAULT 'abc')").0, "22P02");
}
