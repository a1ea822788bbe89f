//! Normalization of SQL identifiers and object names into the catalog's names.
//!
//! User objects live in one schema, `public`: unqualified names, `public.x` and
//! `<database>.public.x` all name `x`. Introspection relations live in `mz_internal`. Unquoted identifiers fold to lower case as in PostgreSQL; quoted ones keep their case.

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

use crate::SqlError;

/// The only schema user objects live in.
pub const PUBLIC_SCHEMA: &str = "public";
/// The read-only schema of introspection relations; its items keep the `mz_internal.` prefix in
/// their catalog names, so that no user object can shadow them.
pub const INTERNAL_SCHEMA: &str = "mz_internal";

/// The catalog name of one identifier.
pub fn ident(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// The catalog name of a possibly qualified object name.
pub fn object_name(name: &ObjectName) -> Result<String, SqlError> {
    let parts = name
        .0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(id) => Ok(ident(id)),
            ObjectNamePart::Function(_) => Err(SqlError::Unsupported(format!("object name {name}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    match parts.as_slice() {
        [item] => Ok(item.clone()),
        [schema, item] | [_, schema, item] if schema == PUBLIC_SCHEMA => Ok(item.clone()),
        [schema, item] | [_, schema, item] if schema == INTERNAL_SCHEMA => Ok(format!("{INTERNAL_SCHEMA}.{item}")),
        [schema, _] | [_, schema, _] => Err(SqlError::UnknownSchema(schema.clone())),
        _ => Err(SqlError::Parse(format!("improper qualified name (too many dotted names): {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(parts: &[&str]) -> ObjectName {
        ObjectName::from(parts.iter().map(|p| Ident::new(*p)).collect::<Vec<_>>())
    }

    #[test]
    fn folds_unquoted_and_keeps_quoted() {
        assert_eq!(ident(&Ident::new("Foo")), "foo");
        assert_eq!(ident(&Ident::with_quote('"', "Foo")), "Foo");
    }

    #[test]
    fn accepts_public_qualification_only() {
        assert_eq!(object_name(&name(&["T"])).unwrap(), "t");
        assert_eq!(object_name(&name(&["public", "t"])).unwrap(), "t");
        assert_eq!(object_name(&name(&["db", "public", "t"])).unwrap(), "t");
        assert_eq!(object_name(&name(&["other", "t"])), Err(SqlError::UnknownSchema("other".into())));
        assert_eq!(object_name(&name(&["mz_internal", "s"])).unwrap(), "mz_internal.s");
        assert_eq!(object_name(&name(&["a", "b", "c", "d"])).unwrap_err().sqlstate(), "42601");
    }
}
