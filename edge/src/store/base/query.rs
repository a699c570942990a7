//! List queries whose `WHERE` holds only the filters a caller gave.
//!
//! The catch-all form `(?1 IS NULL OR col = ?1)` looks cheaper (one statement, cached once) but is
//! not: SQLite marks such parameters as plan-relevant and re-prepares the statement every time one
//! is bound, so each list request paid a full parse and plan, and the plan could not use an index
//! for a filter that might be absent. A [`Where`] gives one SQL text per combination of filters;
//! each is prepared once per connection and planned with the filters it really has.

use rusqlite::types::ToSql;
use rusqlite::{Connection, Row};

use crate::error::Result;

/// Conditions joined with `AND`, with their parameters in placeholder order.
#[derive(Default)]
pub struct Where<'a> {
    sql: String,
    params: Vec<&'a dyn ToSql>,
}

impl<'a> Where<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `clause` (with one anonymous `?` per parameter, in order).
    pub fn and(&mut self, clause: &str, params: &[&'a dyn ToSql]) -> &mut Self {
        debug_assert_eq!(clause.matches('?').count(), params.len());
        self.sql.push_str(if self.sql.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        self.sql.push('(');
        self.sql.push_str(clause);
        self.sql.push(')');
        self.params.extend_from_slice(params);
        self
    }

    /// Add `clause` only when the filter is given.
    pub fn and_some<T: ToSql>(&mut self, clause: &str, value: &'a Option<T>) -> &mut Self {
        if let Some(v) = value {
            self.and(clause, &[v]);
        }
        self
    }

    /// Like [`Where::query`], but hands each row to `visit` instead of collecting: the row's text
    /// can then be borrowed rather than copied into owned values.
    pub fn each(
        &self,
        conn: &Connection,
        select: &str,
        tail: &str,
        tail_params: &[&'a dyn ToSql],
        mut visit: impl FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        let sql = format!("{select}{} {tail}", self.sql);
        let mut stmt = conn.prepare_cached(&sql)?;
        let params = self.params.iter().chain(tail_params).copied();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            visit(row)?;
        }
        Ok(())
    }

    /// Run `SELECT {select}{where} {tail}` with `tail_params` after the conditions' parameters
    /// (typically `ORDER BY … LIMIT ?`), mapping each row.
    pub fn query<T>(
        &self,
        conn: &Connection,
        select: &str,
        tail: &str,
        tail_params: &[&'a dyn ToSql],
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let sql = format!("{select}{} {tail}", self.sql);
        let mut stmt = conn.prepare_cached(&sql)?;
        let params = self.params.iter().chain(tail_params).copied();
        let rows = stmt.query_map(rusqlite::params_from_iter(params), map)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }
}

/// Column `i` as text borrowed from the row (no copy); SQL NULL is an error.
pub fn text<'r>(row: &'r Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(i)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let c = Connection::open_in_memory().expect("db");
        c.execute_batch(
            "CREATE TABLE t (a TEXT, b INTEGER);
             INSERT INTO t VALUES ('x', 1), ('x', 2), ('y', 3);",
        )
        .expect("schema");
        c
    }

    fn run(c: &Connection, a: Option<String>, min_b: Option<i64>) -> Vec<i64> {
        let mut w = Where::new();
        w.and_some("a = ?", &a).and_some("b >= ?", &min_b);
        w.query(c, "SELECT b FROM t", "ORDER BY b LIMIT ?", &[&10], |r| {
            r.get(0)
        })
        .expect("query")
    }

    #[test]
    fn only_the_given_filters_apply_and_parameters_stay_in_order() {
        let c = conn();
        assert_eq!(run(&c, None, None), vec![1, 2, 3]);
        assert_eq!(run(&c, Some("x".into()), None), vec![1, 2]);
        assert_eq!(run(&c, None, Some(2)), vec![2, 3]);
        assert_eq!(run(&c, Some("x".into()), Some(2)), vec![2]);
        assert_eq!(run(&c, Some("z".into()), Some(0)), Vec::<i64>::new());
    }
}
