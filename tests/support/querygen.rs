//! A seeded generator of SQL over a small fixed schema, for differential testing against
//! PostgreSQL. Everything it generates is deterministic in PostgreSQL (no floats, no LIMIT without a
//! total order, no division) so that any difference in results is a Freshet bug.

#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `t3`'s first column is a bigint, so inner joins on it read `t3`'s own arrangement (an index
/// join) instead of arranging `t3` again.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE t1 (a int, b int, c text, d bigint)",
    "CREATE TABLE t2 (a int, e int, f text)",
    "CREATE TABLE t3 (k bigint, g int, h text)",
];

/// INSERT statements with seeded data: small value ranges so joins and groups collide, and NULLs.
pub fn data(seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let int =
        |rng: &mut StdRng| if rng.random_bool(0.15) { "NULL".to_string() } else { rng.random_range(-3..8).to_string() };
    let text = |rng: &mut StdRng| ["'x'", "'y'", "'z'", "'Wq'", "''", "NULL"][rng.random_range(0..6)].to_string();
    let mut t1 = Vec::new();
    for _ in 0..40 {
        let (a, b, c) = (int(&mut rng), int(&mut rng), text(&mut rng));
        let d = if rng.random_bool(0.1) { "NULL".to_string() } else { rng.random_range(-1000i64..100000).to_string() };
        t1.push(format!("({a}, {b}, {c}, {d})"));
    }
    let mut t2 = Vec::new();
    for _ in 0..30 {
        t2.push(format!("({}, {}, {})", int(&mut rng), int(&mut rng), text(&mut rng)));
    }
    let mut t3 = Vec::new();
    for _ in 0..30 {
        t3.push(format!("({}, {}, {})", int(&mut rng), int(&mut rng), text(&mut rng)));
    }
    vec![
        format!("INSERT INTO t1 VALUES {}", t1.join(", ")),
        format!("INSERT INTO t2 VALUES {}", t2.join(", ")),
        format!("INSERT INTO t3 VALUES {}", t3.join(", ")),
    ]
}

/// A relation in FROM with the int and text columns it offers (qualified names).
struct From {
    sql: String,
    ints: Vec<String>,
    texts: Vec<String>,
}

pub struct QueryGen {
    rng: StdRng,
}

impl QueryGen {
    pub fn new(seed: u64) -> QueryGen {
        QueryGen { rng: StdRng::seed_from_u64(seed) }
    }

    fn pick<'a>(&mut self, items: &'a [String]) -> &'a str {
        &items[self.rng.random_range(0..items.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    pub fn query(&mut self) -> String {
        match self.rng.random_range(0..10) {
            0..=3 => self.select(),
            4..=6 => self.aggregate(),
            7 => self.set_operation(),
            _ => self.with_subquery(),
        }
    }

    fn from(&mut self) -> From {
        let t1 = || (vec!["t1.a".into(), "t1.b".into(), "t1.d".into()], vec!["t1.c".into()]);
        let t2 = || (vec!["t2.a".into(), "t2.e".into()], vec!["t2.f".into()]);
        let t3 = || (vec!["t3.k".into(), "t3.g".into()], vec!["t3.h".into()]);
        let choice = self.rng.random_range(0..10);
        let (sql, (mut ints, mut texts)) = match choice {
            0 => ("t1".to_string(), t1()),
            1 => ("t2".to_string(), t2()),
            8 | 9 => {
                let extra = if self.chance(0.3) { " AND t3.g < t1.b" } else { "" };
                let (sql, (mut ints, mut texts)) = if choice == 8 {
                    (format!("t1 JOIN t3 ON t1.a = t3.k{extra}"), t1())
                } else {
                    (format!("t3 JOIN t1 ON t3.k = t1.a + 1{extra}"), t1())
                };
                let (i3, t3s) = t3();
                ints.extend(i3);
                texts.extend(t3s);
                return From { sql, ints, texts };
            }
            _ => {
                let kind = ["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "JOIN", "LEFT JOIN"][choice - 2];
                let extra = if self.chance(0.3) { " AND t1.b < t2.e" } else { "" };
                (format!("t1 {kind} t2 ON t1.a = t2.a{extra}"), t1())
            }
        };
        if choice >= 2 {
            let (i2, t2s) = t2();
            ints.extend(i2);
            texts.extend(t2s);
        }
        From { sql, ints, texts }
    }

    fn int_expr(&mut self, from: &From, depth: u32) -> String {
        let col = self.pick(&from.ints).to_string();
        if depth > 1 {
            return col;
        }
        match self.rng.random_range(0..9) {
            0..=2 => col,
            3 => format!("{col} + {}", self.int_expr(from, depth + 1)),
            4 => format!("{col} - {}", self.rng.random_range(0..5)),
            5 => format!("{col} * {}", self.rng.random_range(-2..4)),
            6 => format!("COALESCE({col}, {})", self.rng.random_range(0..3)),
            7 => format!("abs({col})"),
            _ => format!(
                "CASE WHEN {} THEN {col} ELSE {} END",
                self.predicate(from, depth + 1),
                self.rng.random_range(0..9)
            ),
        }
    }

    fn text_expr(&mut self, from: &From) -> String {
        let col = self.pick(&from.texts).to_string();
        match self.rng.random_range(0..6) {
            0 | 1 => col,
            2 => format!("upper({col})"),
            3 => format!("{col} || 'k'"),
            4 => format!("COALESCE({col}, 'none')"),
            _ => format!("length({col})::text"),
        }
    }

    fn predicate(&mut self, from: &From, depth: u32) -> String {
        let simple = match self.rng.random_range(0..8) {
            0 | 1 => {
                let op = ["=", "<>", "<", "<=", ">", ">="][self.rng.random_range(0..6)];
                format!("{} {op} {}", self.int_expr(from, depth + 1), self.rng.random_range(-2..6))
            }
            2 => {
                let op = ["=", "<", ">="][self.rng.random_range(0..3)];
                let (a, b) = (self.pick(&from.ints).to_string(), self.pick(&from.ints).to_string());
                format!("{a} {op} {b}")
            }
            3 => format!("{} IS {}NULL", self.pick(&from.ints), if self.chance(0.5) { "NOT " } else { "" }),
            4 => format!(
                "{} IN ({}, {}, NULL)",
                self.pick(&from.ints),
                self.rng.random_range(0..4),
                self.rng.random_range(0..4)
            ),
            5 => format!(
                "{} BETWEEN {} AND {}",
                self.pick(&from.ints),
                self.rng.random_range(-2..2),
                self.rng.random_range(2..6)
            ),
            6 => format!("{} = '{}'", self.pick(&from.texts), ["x", "y", "z"][self.rng.random_range(0..3)]),
            _ => format!("{} LIKE '%{}%'", self.text_expr(from), ["x", "W", "k"][self.rng.random_range(0..3)]),
        };
        if depth > 0 || !self.chance(0.35) {
            return simple;
        }
        let connective = ["AND", "OR"][self.rng.random_range(0..2)];
        let other = self.predicate(from, depth + 1);
        let negate = if self.chance(0.2) { "NOT " } else { "" };
        format!("{negate}({simple} {connective} {other})")
    }

    fn where_clause(&mut self, from: &From) -> String {
        if self.chance(0.6) {
            format!(" WHERE {}", self.predicate(from, 0))
        } else {
            String::new()
        }
    }

    fn select(&mut self) -> String {
        let from = self.from();
        let n = self.rng.random_range(1..4);
        let mut items: Vec<String> = Vec::new();
        for _ in 0..n {
            items.push(if self.chance(0.7) { self.int_expr(&from, 0) } else { self.text_expr(&from) });
        }
        let distinct = if self.chance(0.2) { "DISTINCT " } else { "" };
        let where_ = self.where_clause(&from);
        let mut sql = format!("SELECT {distinct}{} FROM {}{where_}", items.join(", "), from.sql);
        if self.chance(0.15) {
            let all: Vec<String> = (1..=items.len()).map(|i| i.to_string()).collect();
            sql.push_str(&format!(" ORDER BY {} LIMIT {}", all.join(", "), self.rng.random_range(1..6)));
        }
        sql
    }

    fn aggregate_expr(&mut self, from: &From) -> String {
        let col = self.pick(&from.ints).to_string();
        match self.rng.random_range(0..7) {
            0 => "count(*)".to_string(),
            1 => format!("count({col})"),
            2 => format!("sum({col})"),
            3 => format!("min({col})"),
            4 => format!("max({})", self.text_expr(from)),
            5 => format!("count(DISTINCT {col})"),
            _ => format!("sum({col} * 2 + 1)"),
        }
    }

    fn aggregate(&mut self) -> String {
        let from = self.from();
        let where_ = self.where_clause(&from);
        let n_aggs = self.rng.random_range(1..3);
        let aggs: Vec<String> = (0..n_aggs).map(|_| self.aggregate_expr(&from)).collect();
        if self.chance(0.25) {
            return format!("SELECT {} FROM {}{where_}", aggs.join(", "), from.sql);
        }
        let key = if self.chance(0.7) { self.pick(&from.ints).to_string() } else { self.pick(&from.texts).to_string() };
        let having = if self.chance(0.3) {
            format!(" HAVING count(*) > {}", self.rng.random_range(0..3))
        } else {
            String::new()
        };
        format!("SELECT {key}, {} FROM {}{where_} GROUP BY {key}{having}", aggs.join(", "), from.sql)
    }

    fn set_operation(&mut self) -> String {
        let op =
            ["UNION", "UNION ALL", "EXCEPT", "EXCEPT ALL", "INTERSECT", "INTERSECT ALL"][self.rng.random_range(0..6)];
        let left_from = From { sql: "t1".into(), ints: vec!["a".into(), "b".into()], texts: vec!["c".into()] };
        let right_from = From { sql: "t2".into(), ints: vec!["a".into(), "e".into()], texts: vec!["f".into()] };
        let (l, r) = (self.int_expr(&left_from, 1), self.int_expr(&right_from, 1));
        let (lw, rw) = (self.where_clause(&left_from), self.where_clause(&right_from));
        format!("SELECT {l} FROM t1{lw} {op} SELECT {r} FROM t2{rw}")
    }

    fn with_subquery(&mut self) -> String {
        let outer = From { sql: "t1".into(), ints: vec!["t1.a".into(), "t1.b".into()], texts: vec!["t1.c".into()] };
        let inner = From { sql: "t2".into(), ints: vec!["t2.a".into(), "t2.e".into()], texts: vec!["t2.f".into()] };
        let inner_pred = self.predicate(&inner, 1);
        let col = self.pick(&outer.ints).to_string();
        let predicate = match self.rng.random_range(0..5) {
            0 => format!("{col} IN (SELECT t2.e FROM t2 WHERE {inner_pred})"),
            1 => format!("{col} NOT IN (SELECT t2.e FROM t2 WHERE {inner_pred})"),
            2 => format!("EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a AND {inner_pred})"),
            3 => "NOT EXISTS (SELECT 1 FROM t2 WHERE t2.e = t1.b)".to_string(),
            _ => format!("{col} > (SELECT min(t2.e) FROM t2 WHERE {inner_pred})"),
        };
        let item = self.int_expr(&outer, 1);
        if self.chance(0.3) {
            return format!("SELECT {item}, (SELECT count(*) FROM t2 WHERE t2.a = t1.a) FROM t1");
        }
        format!("SELECT {item} FROM t1 WHERE {predicate}")
    }
}
